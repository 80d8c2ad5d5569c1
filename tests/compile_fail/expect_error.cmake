# Compile SOURCE and succeed only if the compiler rejects it with a message matching PATTERN.
execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only ${INCLUDES} ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
if(NOT out MATCHES "${PATTERN}")
  message(FATAL_ERROR "${SOURCE} failed without mentioning '${PATTERN}':\n${out}")
endif()
string(LENGTH "${out}" length)
message(STATUS "rejected as expected (${length} bytes of diagnostics)")
