#pragma once
//! \file
//! Library version. Kept in step with `project(weft VERSION ...)` in CMakeLists.txt
//! (a test checks that the two agree).

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION (WEFT_VERSION_MAJOR * 10000 + WEFT_VERSION_MINOR * 100 + WEFT_VERSION_PATCH)

namespace weft {
//! Version as a string, "MAJOR.MINOR.PATCH".
inline constexpr char const* version_string = "0.1.0";
inline constexpr int version_major = WEFT_VERSION_MAJOR;
inline constexpr int version_minor = WEFT_VERSION_MINOR;
inline constexpr int version_patch = WEFT_VERSION_PATCH;
} // namespace weft
