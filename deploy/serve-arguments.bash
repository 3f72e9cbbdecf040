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

# The allocator settings the service is run with (README.md, "Memory allocator"); glibc reads
# them only from GLIBC_TUNABLES when a process starts.
#  - tcache_count: glibc keeps 7 freed blocks of each small size per thread by default, and a
#    CDS call frees thousands of small strings at once when its snapshot goes; a larger
#    per-thread cache takes 7 % of the instructions off an order-sign call with 50
#    Observations.
#  - mmap_threshold 8 MiB (twice the default --max-body) and trim_threshold 2 MiB: with
#    glibc's moving defaults, memory a call frees was handed back to the kernel and faulted in
#    again by the next call (185 page faults per order-sign call with 500 Observations at one
#    connection); fixed, a request body and the snapshot read from it come from the heap and
#    stay there, for about 1 MiB more peak RSS at 64 connections (tests/bench/README.md).
serve_malloc_tunables=glibc.malloc.tcache_count=1000:glibc.malloc.trim_threshold=2097152:glibc.malloc.mmap_threshold=8388608

# export_serve_malloc_tunables : adds to GLIBC_TUNABLES each setting of serve_malloc_tunables
# that the caller has not made, there or with glibc's older variable for it
# (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, which a GLIBC_TUNABLES value would
# override); a value the caller set is kept.
export_serve_malloc_tunables() {
    local setting name tunables=${GLIBC_TUNABLES:-}
    local -a settings
    local -A older_variable=([glibc.malloc.trim_threshold]=MALLOC_TRIM_THRESHOLD_
        [glibc.malloc.mmap_threshold]=MALLOC_MMAP_THRESHOLD_)
    IFS=: read -r -a settings <<<"$serve_malloc_tunables"
    for setting in "${settings[@]}"; do
        name=${setting%%=*}
        [[ :$tunables: == *:"$name"=* ]] && continue
        [[ -n ${older_variable[$name]:-} && -n ${!older_variable[$name]+set} ]] && continue
        tunables="${tunables:+$tunables:}$setting"
    done
    export GLIBC_TUNABLES="$tunables"
}
