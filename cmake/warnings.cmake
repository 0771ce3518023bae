# Warnings are errors, everywhere in our own code.
add_library(maillab_warnings INTERFACE)
target_compile_options(maillab_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough
  $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
