# Sourced by format.sh and check-format.sh: sets $formatter to clang-format 14, or exits.
formatter=${CLANG_FORMAT:-}
if [[ -z $formatter ]]; then
    for candidate in clang-format-14 clang-format; do
        if command -v "$candidate" >/dev/null; then
            formatter=$candidate
            break
        fi
    done
fi
if [[ -z $formatter ]] || ! "$formatter" --version | grep -q 'version 14\.'; then
    echo "clang-format 14 is needed (apt-get install clang-format-14)" >&2
    exit 1
fi
