# maillab_module(NAME DIR [DEPS targets...])
# One library per directory; sources are every *.cpp in it.  A module links only
# the modules it may depend on, so a wrong include fails to build.
function(maillab_module name dir)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  if(srcs)
    add_library(${name} STATIC ${srcs})
    target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
    target_link_libraries(${name} PUBLIC ${M_DEPS} PRIVATE maillab_warnings)
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE ${M_DEPS})
  endif()
endfunction()

# maillab_test_suite(NAME DIR DEPS targets...)
# One doctest executable per tested directory (tests/DIR/*_test.cpp), one CTest entry.
function(maillab_test_suite name dir)
  cmake_parse_arguments(T "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${dir}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(tests_${name} ${srcs})
  target_link_libraries(tests_${name} PRIVATE maillab_doctest_main ${T_DEPS} maillab_warnings)
  # doctest.h is in every test file: parse it once per suite.
  target_precompile_headers(tests_${name} PRIVATE <doctest/doctest.h>)
  target_include_directories(tests_${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(tests_${name} PRIVATE MAILLAB_TEST_DIR="${CMAKE_SOURCE_DIR}/tests/${dir}"
                             MAILLAB_SOURCE_DIR="${CMAKE_SOURCE_DIR}" MAILLAB_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND tests_${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "MAILLAB_SOURCE_DIR=${CMAKE_SOURCE_DIR};MAILLAB_BINARY_DIR=${CMAKE_BINARY_DIR}")
endfunction()
