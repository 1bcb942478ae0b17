# SPDX-License-Identifier: Apache-2.0
# bash completion for attestctl.  Install as
#   /usr/share/bash-completion/completions/attestctl
# or source it from ~/.bashrc.  Commands, subcommands and options follow
# attestctl --help; --pid completes process ids, entry show|update|delete
# complete entry ids (from attestctl entry list --json, when attestd answers),
# --selector completes selector types.

_attestctl_selector_types="unix:uid: unix:user: unix:gid: unix:group: unix:supplementary_gid:
unix:supplementary_group: unix:path: unix:sha256: docker:label: docker:image_id: docker:env:
k8s:ns: k8s:sa: k8s:pod-uid: k8s:pod-name: k8s:container-name: k8s:container-image:
k8s:pod-label: k8s:node-name: systemd:id: cgroup:path: container:id: container:runtime:
ns:pid: ns:mnt: lineage:path:"

# The admin socket the command line names, for the lookups below.
_attestctl_admin_socket()
{
	local i
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		if [[ ${words[i]} == --admin-socket ]]; then
			printf '%s' "${words[i + 1]}"
			return
		fi
	done
	printf '%s' /run/attestd/admin.sock
}

_attestctl_entry_ids()
{
	attestctl --admin-socket "$(_attestctl_admin_socket)" entry list --json 2>/dev/null |
		grep -o '"id":"[0-9a-f-]*"' | cut -d'"' -f4
}

_attestctl()
{
	local cur prev words cword cmd sub opts i
	# Selectors hold colons, which bash splits words at: bash-completion rejoins them.
	if declare -F _get_comp_words_by_ref >/dev/null; then
		_get_comp_words_by_ref -n : cur prev words cword
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	fi
	local common="--json --admin-socket --help"

	# The command and subcommand, skipping top-level options and their values.
	cmd="" sub=""
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--admin-socket) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${words[i]}
			elif [[ -z $sub ]]; then
				sub=${words[i]}
				break
			fi
			;;
		esac
	done

	# Values of options.
	case $prev in
	--admin-socket | --socket | --data)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--write)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return
		;;
	--cgroup)
		COMPREPLY=($(compgen -W "$(cut -d: -f3- /proc/self/cgroup 2>/dev/null)" -- "$cur"))
		return
		;;
	--pid)
		COMPREPLY=($(compgen -W "$(ls /proc 2>/dev/null | grep -E '^[0-9]+$')" -- "$cur"))
		return
		;;
	--selector)
		compopt -o nospace 2>/dev/null
		COMPREPLY=($(compgen -W "$_attestctl_selector_types" -- "$cur"))
		declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
		return
		;;
	--format)
		COMPREPLY=($(compgen -W "pem jwks" -- "$cur"))
		return
		;;
	--spiffe-id | --parent-id)
		compopt -o nospace 2>/dev/null
		COMPREPLY=($(compgen -W "spiffe://" -- "$cur"))
		declare -F __ltrim_colon_completions >/dev/null && __ltrim_colon_completions "$cur"
		return
		;;
	--x509-ttl | --jwt-ttl | --audience | --svid | --hint | --dns-name | --federates-with | \
		--trust-domain | --limit | --count)
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$common" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "attest ps fetch validate bundle entry selectors
				healthcheck explain watch" -- "$cur"))
		fi
		return
	fi

	local entry_flags="--spiffe-id --selector --x509-ttl --jwt-ttl --dns-name --hint
		--federates-with --parent-id"
	local wl="--socket --json --help"
	case $cmd in
	attest) opts="--pid $common" ;;
	ps) opts="$common" ;;
	selectors) opts="--cgroup --json --help" ;;
	healthcheck) opts="--verbose $common" ;;
	explain) opts="--pid --limit $common" ;;
	watch) opts="--count $common" ;;
	fetch)
		case $sub in
		"") COMPREPLY=($(compgen -W "x509 jwt" -- "$cur")); return ;;
		x509) opts="--write $wl" ;;
		jwt) opts="--audience --spiffe-id $wl" ;;
		esac
		;;
	validate)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "jwt" -- "$cur")); return; }
		opts="--audience --svid $wl"
		;;
	bundle)
		[[ -z $sub ]] && { COMPREPLY=($(compgen -W "show" -- "$cur")); return; }
		opts="--format --trust-domain $wl"
		;;
	entry)
		case $sub in
		"")
			COMPREPLY=($(compgen -W "create list show update delete" -- "$cur"))
			return
			;;
		create) opts="$entry_flags --data $common" ;;
		list) opts="--selector --spiffe-id $common" ;;
		show | delete | update)
			if [[ $cur != -* ]]; then
				COMPREPLY=($(compgen -W "$(_attestctl_entry_ids)" -- "$cur"))
				return
			fi
			opts="$common"
			[[ $sub == update ]] && opts="$entry_flags $common"
			;;
		esac
		;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

complete -F _attestctl attestctl
