/* Shared blocks and per-client output queues (see queue.h). */
#include "queue.h"

#include <stdlib.h>

struct chat_block *chat_block_new(struct chat_pool *pool, size_t more)
{
    struct chat_block *b;
    size_t cap = more <= CHAT_BLOCK_CAP ? CHAT_BLOCK_CAP : more;
    if (pool->n > 0 && more <= CHAT_BLOCK_CAP) {
        b = pool->free[--pool->n];
    } else if ((b = malloc(sizeof *b + cap)) == NULL) {
        return NULL;
    } else {
        b->cap = cap;
    }
    b->refs = 1;
    b->len = 0;
    return b;
}

struct chat_block *chat_block_grow(struct chat_block *b, size_t more)
{
    size_t cap = b->cap * 2;
    struct chat_block *nb;
    if (b->len + more <= b->cap)
        return b;
    while (cap < b->len + more)
        cap *= 2;
    if ((nb = realloc(b, sizeof *b + cap)) == NULL)
        return NULL;
    nb->cap = cap;
    return nb;
}

void chat_block_release(struct chat_pool *pool, struct chat_block *b)
{
    if (--b->refs > 0)
        return;
    if (b->cap == CHAT_BLOCK_CAP && pool->n < CHAT_BLOCK_POOL)
        pool->free[pool->n++] = b;
    else
        free(b);
}

void chat_pool_empty(struct chat_pool *pool)
{
    while (pool->n > 0)
        free(pool->free[--pool->n]);
}

int chat_queue_push(struct chat_queue *q, struct chat_block *b, size_t off, size_t len)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        struct chat_piece *p = malloc(cap * sizeof *p);
        if (p == NULL)
            return -1;
        for (size_t i = 0; i < q->n; i++)
            p[i] = q->p[(q->head + i) % q->cap];
        free(q->p);
        q->p = p;
        q->cap = cap;
        q->head = 0;
    }
    q->p[(q->head + q->n) % q->cap] = (struct chat_piece){b, off, len};
    q->n++;
    q->bytes += len;
    b->refs++;
    return 0;
}

size_t chat_queue_gather(const struct chat_queue *q, struct chat_iov *iov, size_t max)
{
    size_t cnt = 0;
    for (; cnt < q->n && cnt < max; cnt++) {
        const struct chat_piece *p = &q->p[(q->head + cnt) % q->cap];
        iov[cnt].base = p->b->data + p->off;
        iov[cnt].len = p->len;
    }
    return cnt;
}

void chat_queue_consume(struct chat_pool *pool, struct chat_queue *q, size_t sent)
{
    q->bytes -= sent;
    while (sent > 0) {
        struct chat_piece *p = &q->p[q->head];
        if (sent < p->len) {
            p->off += sent;
            p->len -= sent;
            break;
        }
        sent -= p->len;
        chat_block_release(pool, p->b);
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    if (q->n == 0) {
        /* An idle client holds no queue: thousands of them cost little. */
        free(q->p);
        q->p = NULL;
        q->head = q->cap = 0;
    }
}

void chat_queue_clear(struct chat_pool *pool, struct chat_queue *q)
{
    while (q->n > 0) {
        chat_block_release(pool, q->p[q->head].b);
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    free(q->p);
    q->p = NULL;
    q->head = q->cap = 0;
}
