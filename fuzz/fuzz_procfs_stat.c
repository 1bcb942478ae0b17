// SPDX-License-Identifier: Apache-2.0
/* procfs_parse_stat on arbitrary /proc/PID/stat text (comm may hold anything). */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	uint32_t ppid = 0;
	uint64_t ticks = 0;

	if (!s)
		return 0;
	(void)procfs_parse_stat(s, &ppid, &ticks);
	free(s);
	return 0;
}
