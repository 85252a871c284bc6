# Finds the Criterion unit-testing library (https://github.com/Snaipe/Criterion).
#
# Defines Criterion_FOUND and the imported target Criterion::Criterion. Looks with
# pkg-config first (criterion.pc), then for criterion/criterion.h and libcriterion.

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_CRITERION QUIET criterion)
endif()

find_path(CRITERION_INCLUDE_DIR criterion/criterion.h
  HINTS ${PC_CRITERION_INCLUDE_DIRS})
find_library(CRITERION_LIBRARY NAMES criterion
  HINTS ${PC_CRITERION_LIBRARY_DIRS})
set(Criterion_VERSION "${PC_CRITERION_VERSION}")

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Criterion
  REQUIRED_VARS CRITERION_LIBRARY CRITERION_INCLUDE_DIR
  VERSION_VAR Criterion_VERSION
  FAIL_MESSAGE "Criterion (criterion/criterion.h and libcriterion) was not found. The tests need it: install it (Debian/Ubuntu: apt-get install libcriterion-dev, Fedora: dnf install criterion-devel), point CMAKE_PREFIX_PATH at it, or configure with -DSOCKKIT_BUILD_TESTS=AUTO (tests only when Criterion is found, as the default preset does) or OFF")
mark_as_advanced(CRITERION_INCLUDE_DIR CRITERION_LIBRARY)

if(Criterion_FOUND AND NOT TARGET Criterion::Criterion)
  add_library(Criterion::Criterion UNKNOWN IMPORTED)
  set_target_properties(Criterion::Criterion PROPERTIES
    IMPORTED_LOCATION "${CRITERION_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CRITERION_INCLUDE_DIR}")
  # Flags criterion.pc asks for besides -I and -l (e.g. -DBXF_STATIC_LIB=1).
  if(PC_CRITERION_CFLAGS_OTHER)
    set_property(TARGET Criterion::Criterion PROPERTY
      INTERFACE_COMPILE_OPTIONS ${PC_CRITERION_CFLAGS_OTHER})
  endif()
endif()
