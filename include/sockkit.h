/**
 * @file sockkit.h
 * @brief libsockkit: TCP and UDP endpoints with robust transfers, timeouts and error codes.
 *
 * The one header a program includes. Link with `-lsockkit`
 * (`pkg-config --cflags --libs sockkit`, or `find_package(sockkit)` and
 * `sockkit::sockkit` / `sockkit::sockkit_static` in CMake).
 */
#ifndef SOCKKIT_H
#define SOCKKIT_H

#include "sockkit/common.h"
#include "sockkit/version.h"
#include "sockkit/error.h"
#include "sockkit/addr.h"
#include "sockkit/tcp.h"
#include "sockkit/udp.h"
#include "sockkit/unix.h"
#include "sockkit/poller.h"

#endif /* SOCKKIT_H */
