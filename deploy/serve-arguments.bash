# The command line deploy/serve.sh gives `magnesium-cds serve`, sourced by serve.sh and by
# its test (tests/deploy/test_serve_script.py). boost::program_options refuses a flag given
# twice, so a default or an environment variable only fills a flag the user did not give.
#
# For each flag below, the first of these that applies wins:
#   1. the flag on the command line (--flag VALUE or --flag=VALUE);
#   2. the environment variable MAGNESIUM_CDS_<FLAG> (upper case, '-' as '_'), e.g.
#      MAGNESIUM_CDS_FEEDBACK_DB for --feedback-db; set but empty leaves the flag out
#      (MAGNESIUM_CDS_FEEDBACK_DB= serves without a feedback store);
#   3. serve.sh's default, if it has one (--listen, --feedback-db).
# Every argument the user gave follows, unchanged and in order.

serve_environment_flags=(listen rules feedback-db log-level threads public-url)

# serve_flag_given FLAG ARG... : true when ARG... contains --FLAG or --FLAG=VALUE.
serve_flag_given() {
    local flag=$1 arg
    shift
    for arg in "$@"; do
        [[ $arg == "--$flag" || $arg == "--$flag="* ]] && return 0
    done
    return 1
}

# serve_arguments ROOT ARG... : sets the array serve_args, and serve_default_store_dir to the
# directory of the default feedback store when that default is used (empty otherwise).
serve_arguments() {
    local root=$1 flag variable
    shift
    local -A defaults=([listen]=127.0.0.1:8080 [feedback-db]="$root/var/feedback.sqlite3")
    serve_args=()
    serve_default_store_dir=
    for flag in "${serve_environment_flags[@]}"; do
        serve_flag_given "$flag" "$@" && continue
        variable=MAGNESIUM_CDS_${flag^^}
        variable=${variable//-/_}
        if [[ -v $variable ]]; then
            [[ -n ${!variable} ]] && serve_args+=("--$flag" "${!variable}")
        elif [[ -v "defaults[$flag]" ]]; then
            serve_args+=("--$flag" "${defaults[$flag]}")
            [[ $flag == feedback-db ]] && serve_default_store_dir="$root/var"
        fi
    done
    serve_args+=("$@")
}

# The allocator setting the service is run with (README.md, "Memory allocator"): glibc keeps
# 7 freed blocks of each small size per thread by default, and a CDS call frees thousands of
# small strings at once when its snapshot goes; a larger per-thread cache takes 7 % of the
# instructions off an order-sign call with 50 Observations. glibc reads it only from
# GLIBC_TUNABLES when a process starts. A tcache_count the caller set is kept.
serve_malloc_tunables=glibc.malloc.tcache_count=1000

# export_serve_malloc_tunables : adds serve_malloc_tunables to GLIBC_TUNABLES, unless it
# already sets glibc.malloc.tcache_count.
export_serve_malloc_tunables() {
    [[ ${GLIBC_TUNABLES:-} == *glibc.malloc.tcache_count=* ]] && return 0
    export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}$serve_malloc_tunables"
}
