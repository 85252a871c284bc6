/* The chat engine's memory for lines: shared blocks and per-client output queues.
 *
 * A block holds lines once; every client that must receive some of them holds a
 * reference to a range of it (a piece) in its queue, so a line sent to a thousand
 * clients is stored once. A block goes back to the pool, or is freed, when its last
 * reference is released. No socket calls here either (see engine.h). */
#ifndef CHAT_QUEUE_H
#define CHAT_QUEUE_H

#include <stddef.h>

#include "engine.h"

#define CHAT_BLOCK_CAP (512 * 1024)  /* usual size of a round block: a round (256 KiB) and
                                        one more read's lines; it grows if need be */
#define CHAT_BLOCK_POOL 16           /* free blocks of that size kept for reuse */

/* Bytes shared by every queue that holds a piece of them. */
struct chat_block {
    size_t refs;
    size_t len, cap;
    char data[];
};

/* A range of a block waiting in one client's queue. */
struct chat_piece {
    struct chat_block *b;
    size_t off, len;
};

/* One client's output: a ring of pieces, p[head .. head+n) modulo cap; none while
 * empty, so an idle client holds no queue. */
struct chat_queue {
    struct chat_piece *p;
    size_t head, n, cap;
    size_t bytes;                /* in those pieces */
};

struct chat_pool {
    struct chat_block *free[CHAT_BLOCK_POOL];
    size_t n;
};

/* A block with room for `more` bytes (at least CHAT_BLOCK_CAP), one reference. */
struct chat_block *chat_block_new(struct chat_pool *pool, size_t more);

/* Block b, moved if need be, with room for `more` bytes after its len; NULL (b
 * untouched) when memory is short. */
struct chat_block *chat_block_grow(struct chat_block *b, size_t more);

void chat_block_release(struct chat_pool *pool, struct chat_block *b);

/* Free the pool's blocks. */
void chat_pool_empty(struct chat_pool *pool);

/* Append b[off .. off+len) to the queue (one more reference): 0, or -1 when memory is short. */
int chat_queue_push(struct chat_queue *q, struct chat_block *b, size_t off, size_t len);

/* The first pieces of the queue, at most max, for one gather write: how many. */
size_t chat_queue_gather(const struct chat_queue *q, struct chat_iov *iov, size_t max);

/* The system took `sent` bytes from the front of the queue. */
void chat_queue_consume(struct chat_pool *pool, struct chat_queue *q, size_t sent);

/* Release every piece. */
void chat_queue_clear(struct chat_pool *pool, struct chat_queue *q);

#endif
