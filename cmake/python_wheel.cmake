# The wheel `pip install .` builds (pyproject.toml, scikit-build-core): one relocatable package folder,
#   plural/                 the Python layer and _core
#   plural/bin/plural       the command-line tool, run by the console script `plural` (plural_cli.py)
#   plural/lib/             libplural.so, found by both binaries through $ORIGIN
#   plural/data/            the bundled datasets;  plural/scripts/  the doctor's report script
#   plural/models/          the frozen encoder's weights, when `make models` fetched them before the build
# Everything goes in the `python` component, the only one the wheel takes, so `cmake --install` alone still installs
# the C++ package. The files are copied from a finished build: the wheel's own build, or with PLURAL_PREBUILT_DIR the
# build `make` already made (make test installs into a venv without compiling the project twice).

# A Python that cannot import torch would install a package that cannot load: refuse before anything is built, and
# say what to install. A prebuilt _core only loads in the Python version it was built for.
function(plural_wheel_check_python build_dir)
  find_package(Python 3 REQUIRED COMPONENTS Interpreter)
  # pip builds in an isolated environment that hides site-packages (PYTHONPATH, PYTHONNOUSERSITE): ask the Python
  # the package is installed into as it will run.
  execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=PYTHONPATH --unset=PYTHONNOUSERSITE
                          ${Python_EXECUTABLE} -c "import torch; print(torch.__version__)"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE torch_version ERROR_VARIABLE torch_error
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "plural needs PyTorch in the Python it is installed into, and ${Python_EXECUTABLE} cannot "
      "import torch. On Debian 12: `sudo apt install python3-torch`, then make the venv with "
      "`/usr/bin/python3 -m venv --system-site-packages VENV` so that it sees Debian's torch (plural's C++ core is "
      "built against Debian's LibTorch; a torch from PyPI does not match it).")
  endif()
  message(STATUS "plural wheel: ${Python_EXECUTABLE} (Python ${Python_VERSION}) with torch ${torch_version}")
  if(PLURAL_PREBUILT_DIR)
    set(info ${build_dir}/python/installed/_build_info.py)
    if(NOT EXISTS ${info})
      message(FATAL_ERROR "PLURAL_PREBUILT_DIR=${build_dir} is not a finished plural build (no ${info}): run make "
                          "first, or leave PLURAL_PREBUILT_DIR out to compile")
    endif()
    file(STRINGS ${info} line REGEX "^PYTHON_VERSION = ")
    string(REGEX REPLACE "^PYTHON_VERSION = \"(.*)\"$" "\\1" built_for "${line}")
    if(NOT built_for STREQUAL "${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}")
      message(FATAL_ERROR "${build_dir} was built for Python ${built_for}, but pip runs Python ${Python_VERSION}")
    endif()
  endif()
endfunction()

function(plural_wheel_install build_dir)
  set(pkg plural)
  install(DIRECTORY ${build_dir}/python/plural/ DESTINATION ${pkg} COMPONENT python
          PATTERN __pycache__ EXCLUDE PATTERN _build_info.py EXCLUDE)
  install(FILES ${build_dir}/python/installed/_build_info.py DESTINATION ${pkg} COMPONENT python)
  install(PROGRAMS ${build_dir}/plural DESTINATION ${pkg}/bin COMPONENT python)
  install(FILES ${build_dir}/libplural.so DESTINATION ${pkg}/lib COMPONENT python)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/data/ DESTINATION ${pkg}/data COMPONENT python)
  install(FILES ${PROJECT_SOURCE_DIR}/scripts/doctor_report.py ${PROJECT_SOURCE_DIR}/scripts/atomic_write.py
          DESTINATION ${pkg}/scripts COMPONENT python)
  # The console script's module sits beside the package (importing it must not import plural, hence torch).
  install(FILES ${build_dir}/python/plural_cli.py DESTINATION . COMPONENT python)
  set(weights ${PROJECT_SOURCE_DIR}/models/all-MiniLM-L6-v2)
  if(EXISTS ${weights}/model.safetensors)
    install(DIRECTORY ${weights} DESTINATION ${pkg}/models COMPONENT python)
  else()
    message(STATUS "plural wheel: no encoder weights in ${weights} (run `make models` first to ship them); the "
                   "installed package will read them from $PLURAL_MODELS")
  endif()
endfunction()
