#ifndef CYAJL_SHIM_H
#define CYAJL_SHIM_H
#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>

/* yajl_config is variadic: Swift cannot call it, so fixed-signature wrappers. */
static inline int cyajl_config_bool(yajl_handle h, yajl_option opt, int on) {
    return yajl_config(h, opt, on);
}
#endif
