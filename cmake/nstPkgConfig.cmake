# nstPkgConfig.cmake — writes nst.pc for builds that use pkg-config instead of CMake:
#   c++ -std=c++17 app.cpp $(pkg-config --cflags --libs nst)
# It mirrors the nst::nst target as configured: Eigen (Requires: eigen3) and
# EIGEN_DONT_PARALLELIZE always; OpenMP's flags when NST_FOUND_OPENMP; libstb (Requires: stb,
# Debian's stb.pc) and NST_HAVE_STB=1 when NST_FOUND_STB. Installed in <datadir>/pkgconfig, the
# place for architecture-independent .pc files (as eigen3.pc).
set(NST_PC_REQUIRES "eigen3")
set(NST_PC_CFLAGS "-DEIGEN_DONT_PARALLELIZE")
set(NST_PC_LIBS "")
if(NST_FOUND_OPENMP)
  string(APPEND NST_PC_CFLAGS " ${OpenMP_CXX_FLAGS}")
  set(NST_PC_LIBS "${OpenMP_CXX_FLAGS}")
endif()
if(NST_FOUND_STB)
  string(APPEND NST_PC_REQUIRES " stb")
  string(APPEND NST_PC_CFLAGS " -DNST_HAVE_STB=1")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/nst.pc.in ${PROJECT_BINARY_DIR}/nst.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/nst.pc DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)
