# Builds a scratch git repository with the project's .clang-format, the format scripts and one
# file whose layout clang-format would change, and expects deploy/check-format.sh to fail there.
file(REMOVE_RECURSE "${SCRATCH}")
file(MAKE_DIRECTORY "${SCRATCH}/deploy")
file(COPY "${REPO}/.clang-format" DESTINATION "${SCRATCH}")
file(COPY "${REPO}/deploy/check-format.sh" "${REPO}/deploy/clang-format-tool.sh"
     DESTINATION "${SCRATCH}/deploy")
file(WRITE "${SCRATCH}/bad.cpp" "int   main( ) {return 0;}\n")
execute_process(COMMAND git init -q WORKING_DIRECTORY "${SCRATCH}" RESULT_VARIABLE init_result)
execute_process(COMMAND git add bad.cpp WORKING_DIRECTORY "${SCRATCH}")
if(NOT init_result EQUAL 0)
    message(FATAL_ERROR "git init failed in ${SCRATCH}")
endif()
execute_process(COMMAND "${SCRATCH}/deploy/check-format.sh" RESULT_VARIABLE check_result
                OUTPUT_VARIABLE check_output ERROR_VARIABLE check_output)
if(check_result EQUAL 0)
    message(FATAL_ERROR "check-format.sh passed an unformatted file:\n${check_output}")
endif()
if(NOT check_output MATCHES "not formatted: bad.cpp")
    message(FATAL_ERROR "check-format.sh failed without naming the file:\n${check_output}")
endif()
file(REMOVE_RECURSE "${SCRATCH}")
