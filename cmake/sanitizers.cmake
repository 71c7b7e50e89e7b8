# AddressSanitizer + UndefinedBehaviorSanitizer for the test build (make test). GCC's "undefined"
# leaves out float-cast-overflow (a double outside the target type's range, e.g. (int)1e10):
# asked for explicitly, as clang's "undefined" (the fuzz tree) includes it.
if(MON_SANITIZE)
  add_compile_options(-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined,float-cast-overflow)
  add_link_options(-fsanitize=address,undefined,float-cast-overflow)
endif()
