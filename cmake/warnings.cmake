# Warning flags for our own targets: everything reasonable, and warnings are errors.
set(MON_WARNINGS -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wformat=2 -Wvla -Wpointer-arith -Wundef -Wno-unused-parameter)
function(mon_target_warnings target)
  target_compile_options(${target} PRIVATE ${MON_WARNINGS})
endfunction()
