# Every dependency is a Debian 12 package (scripts/setup installs the missing ones).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)

# Standalone Asio is header-only.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(Asio::asio INTERFACE IMPORTED)
target_include_directories(Asio::asio INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(Asio::asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(Asio::asio INTERFACE Threads::Threads)

if(MAILLAB_TESTS)
  find_package(doctest REQUIRED)
endif()

# mimalloc (libmimalloc-dev) is the allocator of the two programs, not of the
# test suites: the simulator makes and frees small strings and events for every
# line it moves, and glibc's malloc was a fifth of its time (bench/README.md,
# "The allocator and the 16-session SMTP wait, tenth round"). Sanitizer builds
# keep the allocator ASan replaces.
option(MAILLAB_MIMALLOC "Link maillab and maillab-studio with mimalloc" ON)
if(MAILLAB_MIMALLOC AND NOT MAILLAB_SANITIZE)
  find_package(mimalloc 2 REQUIRED)
  set(MAILLAB_ALLOCATOR mimalloc)
else()
  set(MAILLAB_ALLOCATOR "")
endif()
