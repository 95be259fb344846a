// The parts of Fluent Bit's Go proxy ABI that kubeship uses, the same in
// every Fluent Bit from 1.9 to 5.x except where noted.
#ifndef KUBESHIP_PROXY_H
#define KUBESHIP_PROXY_H

// The head of struct flb_api (include/fluent-bit/flb_api.h). Fluent Bit
// 1.9 has only output_get_property: the rest lies past its end there.
struct kubeship_api {
    void *output_get_property;
    void *input_get_property;
    void *output_get_cmt_instance;
    void *input_get_cmt_instance;
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
};

// struct flb_plugin_proxy_context (include/fluent-bit/flb_plugin_proxy.h).
struct kubeship_proxy_context {
    void *remote_context;
    void *proxy;
};

// The head of the struct the Go proxy passes to FLBPluginInit (src/proxy/go/go.h).
struct kubeship_plugin {
    char *name;
    struct kubeship_api *api;
    void *o_ins;
    struct kubeship_proxy_context *context;
};

// The fields of struct flb_plugin_proxy_def that every version has. 4.2.3
// appended event_type and 5.0 config_map; the def is zero-filled, so a
// plugin that leaves them alone registers a logs output without a config
// map anywhere.
struct kubeship_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
};

#endif
