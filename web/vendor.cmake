# Copies the vendor files the dashboard loads from web/node_modules into <web_root>/vendor/,
# only rewriting files whose content changed. Run at every build by the web_assets target:
#   cmake -DNODE_MODULES=<web/node_modules> -DOUT=<build>/web/vendor -P vendor.cmake
# Only what the pages use: Tabler's CSS (no Tabler JS, none of dist/libs), uPlot. The Tabler
# icon webfont is not shipped (its woff2 alone is ~500 KB): the few icons are inline SVG.
set(files
    "@tabler/core/dist/css/tabler.min.css|tabler.min.css"
    "uplot/dist/uPlot.iife.min.js|uPlot.iife.min.js"
    "uplot/dist/uPlot.min.css|uPlot.min.css"
    "uplot/LICENSE|licenses/uPlot.LICENSE")

foreach(entry ${files})
  string(REPLACE "|" ";" pair "${entry}")
  list(GET pair 0 from)
  list(GET pair 1 to)
  if(NOT EXISTS "${NODE_MODULES}/${from}")
    message(FATAL_ERROR "web/node_modules is missing or incomplete (no ${from}): run `make deps` "
                        "(scripts/deps.sh runs `npm ci` in web/), then build again.")
  endif()
  configure_file("${NODE_MODULES}/${from}" "${OUT}/${to}" COPYONLY)
endforeach()
