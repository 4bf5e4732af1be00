/* api.h: OVX_API marks the functions of the public C API (installed headers
 * under include/ovx/). The library is compiled with hidden visibility, so
 * libovx.so exports these and nothing else; internal names can change. */
#ifndef OVX_COMMON_API_H
#define OVX_COMMON_API_H

#if defined(__GNUC__) || defined(__clang__)
#define OVX_API __attribute__((visibility("default")))
#else
#define OVX_API
#endif

#endif
