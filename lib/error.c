/* Names, texts and errno values of the codes, all made from SK__ERRORS. */
#include "error_map.h"

/* Each listed value is the enumerator's: a renumbered code does not compile. */
#define CHECK_VALUE(code, value, err, text) _Static_assert((code) == (value), #code " keeps its value");
SK__ERRORS(CHECK_VALUE)

const char *sk_strerror(int code)
{
#define TEXT(code_, value, err, text) case code_: return text;
    switch (code) {
        SK__ERRORS(TEXT)
    default: return "unknown error";
    }
#undef TEXT
}

const char *sk_errname(int code)
{
#define NAME(code_, value, err, text) case code_: return #code_;
    switch (code) {
        SK__ERRORS(NAME)
    default: return "SK_E?";
    }
#undef NAME
}

int sk__fail(int code)
{
#define SET_ERRNO(code_, value, err, text) case code_: if (err != 0) errno = err; break;
    switch (code) {
        SK__ERRORS(SET_ERRNO)
    default: break;
    }
#undef SET_ERRNO
    return code;
}

int sk__map_errno(int err)
{
#define FROM_ERRNO(e, code) case e: return code;
    switch (err) {
        SK__ERRNO_MAP(FROM_ERRNO)
    default: return SK_EOS;
    }
#undef FROM_ERRNO
}
