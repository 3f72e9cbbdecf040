# Writes OUTPUT, the card viewer's scenario library: every SCENARIOS_DIR/<id>/ with a
# request.json and an expected.json becomes {"id", "request", "expected"} with the two files'
# JSON as they are (the page reads hook, description and now from them).
#   cmake -DSCENARIOS_DIR=... -DOUTPUT=... -P scenario_index.cmake
file(GLOB requests LIST_DIRECTORIES false "${SCENARIOS_DIR}/*/request.json")
list(SORT requests)
set(body "")
set(separator "")
foreach(request ${requests})
    get_filename_component(folder "${request}" DIRECTORY)
    get_filename_component(id "${folder}" NAME)
    if(NOT EXISTS "${folder}/expected.json")
        continue()
    endif()
    file(READ "${request}" request_text)
    file(READ "${folder}/expected.json" expected_text)
    # Fails the build on a scenario that is not JSON, instead of serving a broken library.
    string(JSON ignored ERROR_VARIABLE request_error TYPE "${request_text}")
    string(JSON ignored ERROR_VARIABLE expected_error TYPE "${expected_text}")
    if(request_error OR expected_error)
        message(FATAL_ERROR "scenario ${id} is not valid JSON: ${request_error} ${expected_error}")
    endif()
    string(APPEND body "${separator}{\"id\":\"${id}\",\"request\":${request_text},\"expected\":${expected_text}}")
    set(separator ",\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "{\"scenarios\":[\n${body}\n]}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
