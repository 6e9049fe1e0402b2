# plural_layer(<target> <folder> [DEPS <target>...]): one folder's sources as an OBJECT library that may use the
# folders of DEPS (and theirs) and nothing else. The rule is checked on every build: an include of a project header
# from any other folder fails it (cmake/check_layer.cmake). docs/architecture.md draws the layers.
function(plural_layer target folder)
  cmake_parse_arguments(L "" "" "DEPS;EXTRA_ALLOWED" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.cpp)
  file(GLOB headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.hpp)
  set(allowed ${folder} ${L_EXTRA_ALLOWED})
  foreach(dep ${L_DEPS})
    get_property(dep_allowed GLOBAL PROPERTY PLURAL_LAYER_ALLOWED_${dep})
    if(NOT dep_allowed)
      message(FATAL_ERROR "plural_layer(${target}): declare ${dep} before the layers that use it")
    endif()
    list(APPEND allowed ${dep_allowed})
  endforeach()
  list(REMOVE_DUPLICATES allowed)
  set_property(GLOBAL PROPERTY PLURAL_LAYER_ALLOWED_${target} ${allowed})
  plural_layer_check(${target} "${allowed}" ${sources} ${headers})
  if(sources)
    add_library(${target} OBJECT ${sources} ${headers})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_link_libraries(${target} PUBLIC plural_deps)
    add_dependencies(${target} ${target}_layer_check)
    set_property(GLOBAL APPEND PROPERTY PLURAL_LAYERS ${target})
  endif()
endfunction()

# The include check of one layer as its own target, so executables and modules can have one too.
function(plural_layer_check target allowed)
  set(stamp ${CMAKE_BINARY_DIR}/layers/${target}.ok)
  string(REPLACE ";" "|" allowed_arg "${allowed}")
  string(REPLACE ";" "|" files_arg "${ARGN}")
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DLAYER=${target} "-DALLOWED=${allowed_arg}" "-DFILES=${files_arg}" -DSTAMP=${stamp}
            -P ${PROJECT_SOURCE_DIR}/cmake/check_layer.cmake
    DEPENDS ${ARGN} ${PROJECT_SOURCE_DIR}/cmake/check_layer.cmake VERBATIM)
  add_custom_target(${target}_layer_check DEPENDS ${stamp})
endfunction()
