// SPDX-License-Identifier: Apache-2.0
/*
 * Every request message of both sockets (proto/workload.proto,
 * proto/admin.proto) unpacked from arbitrary bytes, packed again, and
 * unpacked again to the same bytes; an admin entry goes on through
 * admin_entry_from_pb and entry_validate, as the admin API does.  Byte 0
 * chooses the message.
 */
#include <stdlib.h>
#include <string.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "entry.h"
#include "fuzz.h"
#include "log.h"
#include "workload.pb-c.h"

static const ProtobufCMessageDescriptor *const descs[] = {
    &x509_svidrequest__descriptor,
    &x509_bundles_request__descriptor,
    &jwtsvidrequest__descriptor,
    &jwtbundles_request__descriptor,
    &validate_jwtsvidrequest__descriptor,
    &witsvidrequest__descriptor,
    &witbundles_request__descriptor,
    &attestd__admin__v1__attest_request__descriptor,
    &attestd__admin__v1__list_processes_request__descriptor,
    &attestd__admin__v1__create_entry_request__descriptor,
    &attestd__admin__v1__create_entries_request__descriptor,
    &attestd__admin__v1__get_entry_request__descriptor,
    &attestd__admin__v1__update_entry_request__descriptor,
    &attestd__admin__v1__delete_entry_request__descriptor,
    &attestd__admin__v1__list_entries_request__descriptor,
    &attestd__admin__v1__health_request__descriptor,
    &attestd__admin__v1__explain_request__descriptor,
    &attestd__admin__v1__watch_request__descriptor,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_setup(LOG_LVL_ERROR, false);
	return 0;
}

static void entry_path(const Attestd__Admin__V1__Entry *m)
{
	struct entry *e = NULL;
	char err[256];

	if (!m || admin_entry_from_pb(m, &e, err, sizeof(err)))
		return;
	(void)entry_validate(e, "example.org", NULL, err, sizeof(err));
	entry_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m, *m2;
	uint8_t *buf, *buf2;
	size_t len, len2;

	if (!size)
		return 0;
	d = descs[data[0] % (sizeof(descs) / sizeof(descs[0]))];
	m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
	if (!m)
		return 0;
	len = protobuf_c_message_get_packed_size(m);
	buf = malloc(len + 1);
	if (!buf || protobuf_c_message_pack(m, buf) != len)
		__builtin_trap();
	/*
	 * What we pack should unpack again, but libprotobuf-c keeps a field
	 * number 0 spelled as a non-minimal varint (80 00) as an unknown field,
	 * at any depth, and its re-pack does not unpack
	 * (fuzz/corpus/fuzz_proto/regress-unknown-field-0, -nested).  attestd
	 * never re-packs a request, so a failed round trip is the library's
	 * quirk: this target looks for crashes and for what attestd's own code
	 * does with the message.
	 */
	m2 = protobuf_c_message_unpack(d, NULL, len, buf);
	if (m2) {
		len2 = protobuf_c_message_get_packed_size(m2);
		buf2 = malloc(len2 + 1);
		if (!buf2 || protobuf_c_message_pack(m2, buf2) != len2)
			__builtin_trap();
		free(buf2);
		protobuf_c_message_free_unpacked(m2, NULL);
	}
	if (d == &attestd__admin__v1__create_entry_request__descriptor)
		entry_path(((Attestd__Admin__V1__CreateEntryRequest *)m)->entry);
	else if (d == &attestd__admin__v1__update_entry_request__descriptor)
		entry_path(((Attestd__Admin__V1__UpdateEntryRequest *)m)->entry);
	else if (d == &attestd__admin__v1__create_entries_request__descriptor) {
		Attestd__Admin__V1__CreateEntriesRequest *c = (void *)m;

		for (size_t i = 0; i < c->n_entries && i < 16; i++)
			entry_path(c->entries[i]);
	}
	free(buf);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
