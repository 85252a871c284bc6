#include "internal.h"

unsigned sk_version(void)
{
    return SK_VERSION_NUMBER;
}

const char *sk_version_string(void)
{
    return SK_VERSION_STRING;
}
