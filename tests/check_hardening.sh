#!/bin/sh
# Check that an executable was built hardened, with readelf(1) (binutils):
#
#	pie		ELF type DYN with a program interpreter (PIE)
#	relro		a GNU_RELRO segment
#	bind-now	BIND_NOW in FLAGS or NOW in FLAGS_1 (full RELRO with relro)
#	nx-stack	a GNU_STACK segment without E
#	stack-protector	__stack_chk_fail imported
#	fortify		some other __*_chk function imported (-D_FORTIFY_SOURCE,
#			which needs optimisation: not for Debug builds)
#
# Prints "ok NAME" or "FAIL NAME: why" for each; exits 1 if any failed,
# 2 if it could not check at all.
#
# usage: check_hardening.sh BINARY

if [ $# -ne 1 ]; then
	echo "usage: $0 BINARY" >&2
	exit 2
fi
bin=$1
if ! command -v readelf >/dev/null 2>&1; then
	echo "$0: readelf not found (binutils)" >&2
	exit 2
fi
if ! hdr=$(LC_ALL=C readelf -hW "$bin" 2>&1); then
	echo "$0: $bin: not an ELF file: $hdr" >&2
	exit 2
fi
LC_ALL=C
export LC_ALL
phdrs=$(readelf -lW "$bin") || exit 2
dyn=$(readelf -dW "$bin") || exit 2
syms=$(readelf -sW "$bin") || exit 2

failed=0

ok() {
	echo "ok $1"
}

fail() {
	echo "FAIL $1: $2"
	failed=1
}

# Older binutils print "DYN (Shared object file)" for a PIE too; a
# shared library has no interpreter.
type=$(printf '%s\n' "$hdr" | sed -n 's/^ *Type: *//p')
case $type in
DYN*)
	if printf '%s\n' "$phdrs" | grep -q '^ *INTERP '; then
		ok pie
	else
		fail pie "type DYN but no PT_INTERP (a shared library?)"
	fi
	;;
*)
	fail pie "ELF type ${type:-unknown}, want DYN"
	;;
esac

if printf '%s\n' "$phdrs" | grep -q '^ *GNU_RELRO '; then
	ok relro
else
	fail relro "no GNU_RELRO segment (-Wl,-z,relro)"
fi

if printf '%s\n' "$dyn" | grep -Eq '\(FLAGS\) .*BIND_NOW|\(FLAGS_1\) .*[: ]NOW( |$)'
then
	ok bind-now
else
	fail bind-now "no BIND_NOW in FLAGS nor NOW in FLAGS_1 (-Wl,-z,now)"
fi

# Flags are printed as three columns, " " for a missing one ("RW ",
# "RWE"); what follows the five numbers, less the alignment, is them.
stack=$(printf '%s\n' "$phdrs" | grep '^ *GNU_STACK ')
if [ -z "$stack" ]; then
	fail nx-stack "no GNU_STACK segment: the stack defaults to executable"
else
	flags=$(printf '%s\n' "$stack" |
	    sed -E 's/^ *GNU_STACK( +0x[0-9a-fA-F]+){5} //; s/ *0x[0-9a-fA-F]+ *$//')
	case $flags in
	*E*)	fail nx-stack "GNU_STACK is executable ($flags)" ;;
	*)	ok nx-stack ;;
	esac
fi

# Symbols imported: undefined in .dynsym (or .symtab if static).
imports=$(printf '%s\n' "$syms" | awk '$7 == "UND" { sub(/@.*/, "", $8); print $8 }' |
    sort -u)

if printf '%s\n' "$imports" | grep -Eq '^__stack_chk_(fail|guard)$'; then
	ok stack-protector
else
	fail stack-protector "__stack_chk_fail not imported (-fstack-protector-strong)"
fi

chk=$(printf '%s\n' "$imports" | grep -E '^__[a-z0-9_]+_chk$' |
    grep -Ev '^__stack_chk_' | tr '\n' ' ')
if [ -n "$chk" ]; then
	ok fortify
	echo "# fortified: ${chk% }"
else
	fail fortify "no __*_chk function imported (-D_FORTIFY_SOURCE with -O)"
fi

exit $failed
