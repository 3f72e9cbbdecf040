# Builds TARGET in BUILD_DIR and passes only when that build fails with output matching EXPECT:
# a registry line whose rule file lacks a function must not link, and the linker must name it.
#   cmake -DBUILD_DIR=... -DTARGET=... -DEXPECT=regex -P expect_link_failure.cmake
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE result
                OUTPUT_VARIABLE output
                ERROR_VARIABLE output)
if(result EQUAL 0)
    message(FATAL_ERROR "${TARGET} was built: a rule without its conditions function linked")
endif()
if(NOT output MATCHES "${EXPECT}")
    message(FATAL_ERROR "${TARGET} failed to build, but not naming '${EXPECT}':\n${output}")
endif()
message(STATUS "${TARGET} does not link, as expected: the linker names '${EXPECT}'")
