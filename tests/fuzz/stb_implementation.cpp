// stb_implementation.cpp — stb_image, stb_image_write and stb_image_resize compiled from
// Debian's headers into the fuzz programs (instead of linking libstb.so), so that libFuzzer's
// coverage and the sanitizers reach into the decoders nst hands hostile bytes to.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
