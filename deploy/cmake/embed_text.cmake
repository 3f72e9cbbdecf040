# Writes OUTPUT, a C++ source defining cds::embedded::SYMBOL as the text of INPUT.
# The text is split into chunks so no single raw string literal grows unreasonably.
file(READ "${INPUT}" content)
string(LENGTH "${content}" length)
set(body "")
set(chunk 8000)
set(pos 0)
while(pos LESS length)
    string(SUBSTRING "${content}" ${pos} ${chunk} piece)
    string(APPEND body "    R\"cds_embed(${piece})cds_embed\"\n")
    math(EXPR pos "${pos} + ${chunk}")
endwhile()
if(length EQUAL 0)
    set(body "    \"\"\n")
endif()
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT}; do not edit.\n#include <string_view>\nnamespace cds::embedded {\nstatic constexpr char ${SYMBOL}_text[] =\n${body};\nextern std::string_view const ${SYMBOL};\nstd::string_view const ${SYMBOL}{${SYMBOL}_text, sizeof(${SYMBOL}_text) - 1};\n}  // namespace cds::embedded\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
