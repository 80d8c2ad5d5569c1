# FindAsio
# --------
# Finds standalone Asio (Debian's libasio-dev ships headers and no CMake package).
#
# Imported target: Asio::Asio (INTERFACE, header-only, links Threads::Threads).
# Result variables: Asio_FOUND, Asio_INCLUDE_DIR, Asio_VERSION.
# Hint: set Asio_ROOT or ASIO_INCLUDE_DIR to a directory that contains asio.hpp.

find_path(Asio_INCLUDE_DIR
  NAMES asio.hpp
  HINTS ${ASIO_INCLUDE_DIR} ENV ASIO_ROOT
  PATH_SUFFIXES include)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
    REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_version "${_asio_version_line}")
  math(EXPR _asio_major "${_asio_version} / 100000")
  math(EXPR _asio_minor "${_asio_version} / 100 % 1000")
  math(EXPR _asio_patch "${_asio_version} % 100")
  set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
  unset(_asio_version_line)
  unset(_asio_version)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION)

if(Asio_FOUND AND NOT TARGET Asio::Asio)
  find_package(Threads REQUIRED)
  add_library(Asio::Asio INTERFACE IMPORTED)
  set_target_properties(Asio::Asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()

mark_as_advanced(Asio_INCLUDE_DIR)
