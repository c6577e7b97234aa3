/*
 * backtest.c - lab 8: the event-driven backtester, pyimpl/backtest.py's
 * `run` in C (the API and the picture are in backtest.h).
 *
 * A backtest is a merge of four time-ordered streams:
 *
 *   exchange feed   message i at its stamp           -> the matcher (ll_exch_on_feed)
 *   exchange orders what the order leg delivers      -> the matcher (ll_exch_on_order)
 *   engine replies  what the reply leg delivers      -> the order manager, a report
 *   engine feed     message i at feed_at[i]          -> book, features, a snapshot
 *
 * and one loop takes whichever is due first; at equal times in that order
 * (the exchange acts before the engine, and the engine takes replies before
 * feed).  A "leg" is a FIFO of OUCH messages with their arrival times: a
 * message never arrives before the one ahead of it (a TCP session never
 * reorders), so each leg's head is its earliest message and the merge looks
 * at four heads only.
 *
 * The strategy is outside the loop.  Every time it must be called (a
 * snapshot, a report) the loop stops and hands it out (ll_bt_next returns);
 * the next call carries the snapshot's answer, and the loop goes on exactly
 * where it stopped.  So the loop is written as a machine that can pause at
 * any strategy call: what is due to be handed out waits in a small outbox,
 * the snapshot's intents in the intent slots, and a few flags say where the
 * engine's current piece of work stands (below, `struct ll_bt`).  pyimpl's
 * loop is the same sequence of steps written as nested calls; the order of
 * the steps is the same, so a strategy sees the same calls in the same order,
 * and a strategy that raises stops both loops at the same point.
 *
 * Nothing is allocated after create: the legs, the outbox, the intent slots
 * and the record buffers are sized there (a full record buffer is handed out
 * as LL_BT_EV_FLUSH for the caller to read; a full leg is LL_ENORES).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "common.h"
#include "exchange.h"
#include "itch.h"
#include "ml_inference.h"
#include "oms.h"
#include "order_book.h"
#include "ouch.h"
#include "trading_system.h"
#include "ts_layout.h"

#define NEVER INT64_MAX /* the time of an empty stream: after every real time (those are < 4 x LL_BT_MAX_NS) */
#define DEFAULT_LEG (1u << 16)
#define DEFAULT_ROWS (1u << 16)
#define HEADROOM (LL_BT_MAX_INTENTS + 1) /* rows one engine message can write: a mark, an order per intent */
#define OUTBOX 4                          /* at most 2 wait at once: the kill switch's report, then a snapshot */

/* ------------------------------------------------------------ legs */
/* One OUCH message in flight: when it arrives, and its bytes. */
typedef struct {
    int64_t at;
    uint16_t len;
    uint8_t msg[LL_OUCH_MAX_SIZE];
} wire;

/* A leg: its FIFO, its delays (pyimpl's _Draws: used in turn, then again
 * from the first) and the arrival of the last message it took. */
typedef struct {
    wire *q;
    uint32_t cap; /* a power of two */
    uint64_t head, tail;
    int64_t last;
    const int64_t *delay;
    uint64_t n_delay, k;
} leg;

static inline int leg_empty(const leg *l) { return l->head == l->tail; }
static inline const wire *leg_front(const leg *l) { return &l->q[l->tail & (l->cap - 1)]; }
static inline int64_t leg_time(const leg *l) { return leg_empty(l) ? NEVER : leg_front(l)->at; }

/* ------------------------------------------------------------ the backtester */
struct ll_bt {
    ll_exch *x;       /* the exchange: the true book and our orders in its queues */
    ll_ml_engine *fe; /* the engine's book and features (what the strategy is shown) */
    ll_book *book;
    ll_oms *oms;
    ll_bt_config cfg;
    /* the stream, framed by create */
    uint64_t n_frames;  /* frames read (up to a bad frame) */
    uint64_t n;         /* messages to replay: n_frames, lowered by a lenient stop */
    uint64_t *body;     /* offset of message i's first byte (its type) */
    int64_t *stamp;     /* its exchange time */
    int64_t stop_code;  /* the bad frame or refused message that ends the replay (0: none) */
    uint64_t stop_msg, stop_off;
    const int64_t *feed_at;
    leg orders, replies;
    uint8_t *xout; /* the replies of one matcher call, concatenated */
    uint64_t xcap;
    uint64_t i_x, i_e; /* the next message at the exchange, at the engine */
    /* Where the engine's work stands.  An engine message (in_feed) is done
     * once its snapshot has been answered (awaiting cleared), the intents of
     * the answer taken (in_k == in_n) and what they had to report handed out;
     * kill_due: the kill switch's actions wait for the report just handed out
     * (pyimpl delivers a report, then takes the actions). */
    int64_t now; /* the engine's time of the work in progress */
    int in_feed, awaiting, kill_due, stopping, flushed, started;
    int64_t err; /* the first error: sticky */
    ll_bt_event outbox[OUTBOX];
    uint32_t out_head, out_n;
    uint32_t held; /* cancels sent behind a HALTED report the strategy has not taken yet (see kill_actions) */
    uint32_t in_n, in_k;
    ll_ts_intent in[LL_BT_MAX_INTENTS];
    ll_bt_event ev;
    /* records since the last FLUSH */
    ll_bt_fill *fills;
    ll_bt_mark *marks;
    ll_bt_order *sent;
    uint32_t n_fills, n_marks, n_sent;
    ll_bt_stats st;
    /* the directory the engine has seen: locate -> ITCH name, and the order it came in */
    uint32_t n_sym;
    uint16_t sym_order[65536];
    uint8_t sym_seen[65536];
    char sym[65536][8];
};

static int64_t fail(ll_bt *bt, int64_t rc)
{
    if (bt->err == 0)
        bt->err = rc;
    return rc;
}

/* The slot for a message leaving at `now` on leg l (NULL: the leg is full).
 * It arrives one delay later, and never before the message ahead of it. */
static wire *leg_push(ll_bt *bt, leg *l, int64_t now)
{
    uint64_t held = l->head - l->tail;
    if (held == l->cap) {
        fail(bt, LL_ENORES);
        return NULL;
    }
    if (held + 1 > bt->st.max_in_flight)
        bt->st.max_in_flight = held + 1;
    int64_t at = now + l->delay[l->k];
    if (++l->k == l->n_delay)
        l->k = 0;
    if (at < l->last)
        at = l->last;
    l->last = at;
    wire *w = &l->q[l->head++ & (l->cap - 1)];
    w->at = at;
    return w;
}

/* ------------------------------------------------------------ life */
static int is_pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* Frame the stream as pyimpl.itch.iter_frames does (a frame of a known type
 * must be exactly its type's size; an unknown type passes, for the book to
 * refuse): pass 1 counts (out NULL), pass 2 records.  Returns the frames
 * before the first bad one; *code / *bad: what is wrong there and where. */
static uint64_t frame(const uint8_t *buf, uint64_t len, uint64_t *body, int64_t *stamp, int64_t *code, uint64_t *bad)
{
    uint64_t pos = 0, i = 0;
    *code = 0;
    while (pos < len) {
        uint32_t n = len - pos >= 2 ? ll_be16(buf + pos) : 0, size = 0;
        if (len - pos < 2 || n > len - pos - 2)
            *code = LL_ETRUNCATED; /* the length prefix, or the message, is cut short */
        else if (n == 0)
            *code = LL_EBADFRAME; /* an empty frame: no type */
        else if ((size = ll_itch_size(buf[pos + 2])) != 0 && size != n)
            *code = size > n ? LL_ETRUNCATED : LL_EBADFRAME;
        if (*code != 0)
            break;
        if (body != NULL) {
            const uint8_t *m = buf + pos + 2;
            int64_t t = 0;
            for (uint32_t k = 5; k < 11 && k < n; k++) /* pyimpl's int.from_bytes(body[5:11]) */
                t = t << 8 | m[k];
            body[i] = pos + 2;
            stamp[i] = t;
        }
        i++;
        pos += 2 + n;
    }
    *bad = pos;
    return i;
}

LL_EXPORT int64_t ll_bt_count_frames(const uint8_t *buf, uint64_t len, uint64_t *end)
{
    if (buf == NULL && len > 0)
        return LL_EINVAL;
    int64_t code;
    uint64_t bad;
    uint64_t n = frame(buf, len, NULL, NULL, &code, &bad);
    if (end != NULL)
        *end = bad;
    return (int64_t)n;
}

LL_EXPORT ll_bt *ll_bt_create(ll_exch *x, ll_ml_engine *fe, ll_oms *oms, const ll_bt_config *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    *err = LL_EINVAL;
    if (x == NULL || fe == NULL || oms == NULL || cfg == NULL || (cfg->stream == NULL && cfg->len > 0))
        return NULL;
    ll_bt_config c = *cfg;
    c.leg_capacity = c.leg_capacity ? c.leg_capacity : DEFAULT_LEG;
    c.record_rows = c.record_rows ? c.record_rows : DEFAULT_ROWS;
    if (!is_pow2(c.leg_capacity) || c.record_rows < 2 * HEADROOM || !isfinite(c.maker_fee) ||
        !isfinite(c.taker_fee))
        return NULL;
    /* fresh pieces: the backtest replays a session from its first message */
    if (ll_exch_stat(x, "feed_messages") != 0 || ll_exch_stat(x, "orders") != 0 || ll_oms_order_count(oms) != 0 ||
        ll_book_count(ll_ml_engine_book(fe)) != 0)
        return NULL;
    ll_bt *bt = calloc(1, sizeof *bt);
    if (bt == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    bt->x = x, bt->fe = fe, bt->oms = oms, bt->book = ll_ml_engine_book(fe), bt->cfg = c;
    int64_t code;
    uint64_t bad;
    bt->n_frames = frame(c.stream, c.len, NULL, NULL, &code, &bad);
    bt->body = malloc((bt->n_frames ? bt->n_frames : 1) * sizeof *bt->body);
    bt->stamp = malloc((bt->n_frames ? bt->n_frames : 1) * sizeof *bt->stamp);
    bt->xcap = ll_exch_reply_capacity(x);
    bt->xout = malloc(bt->xcap);
    bt->orders.q = malloc(c.leg_capacity * sizeof(wire));
    bt->replies.q = malloc(c.leg_capacity * sizeof(wire));
    bt->fills = malloc(c.record_rows * sizeof *bt->fills);
    bt->marks = malloc(c.record_rows * sizeof *bt->marks);
    bt->sent = malloc(c.record_rows * sizeof *bt->sent);
    if (!bt->body || !bt->stamp || !bt->xout || !bt->orders.q || !bt->replies.q || !bt->fills || !bt->marks ||
        !bt->sent) {
        ll_bt_destroy(bt);
        *err = LL_ENORES;
        return NULL;
    }
    (void)frame(c.stream, c.len, bt->body, bt->stamp, &code, &bad);
    bt->n = bt->n_frames;
    if (code != 0)
        bt->stop_code = code, bt->stop_msg = bt->n_frames, bt->stop_off = bad;
    bt->orders.cap = bt->replies.cap = c.leg_capacity;
    bt->st.frames = bt->n_frames;
    *err = LL_OK;
    return bt;
}

LL_EXPORT void ll_bt_destroy(ll_bt *bt)
{
    if (bt == NULL)
        return;
    free(bt->body);
    free(bt->stamp);
    free(bt->xout);
    free(bt->orders.q);
    free(bt->replies.q);
    free(bt->fills);
    free(bt->marks);
    free(bt->sent);
    free(bt);
}

LL_EXPORT int64_t ll_bt_stamps(const ll_bt *bt, int64_t *out, uint64_t max)
{
    if (bt == NULL || (out == NULL && max > 0))
        return LL_EINVAL;
    uint64_t n = bt->n_frames < max ? bt->n_frames : max;
    if (n)
        memcpy(out, bt->stamp, n * sizeof *out);
    return (int64_t)bt->n_frames;
}

static int in_range(const int64_t *v, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (v[i] < 0 || v[i] > LL_BT_MAX_NS)
            return 0;
    return 1;
}

LL_EXPORT int ll_bt_set_latency(ll_bt *bt, const int64_t *feed_at, uint64_t n_feed, const int64_t *order_delay,
                                uint64_t n_order, const int64_t *reply_delay, uint64_t n_reply)
{
    if (bt == NULL || bt->started || n_feed != bt->n_frames || (feed_at == NULL && n_feed > 0) ||
        order_delay == NULL || reply_delay == NULL || n_order == 0 || n_reply == 0 || !in_range(feed_at, n_feed) ||
        !in_range(order_delay, n_order) || !in_range(reply_delay, n_reply))
        return LL_EINVAL;
    bt->feed_at = feed_at;
    bt->orders.delay = order_delay, bt->orders.n_delay = n_order;
    bt->replies.delay = reply_delay, bt->replies.n_delay = n_reply;
    return LL_OK;
}

/* ------------------------------------------------------------ the engine's steps */
/* What the strategy must be told, in order: into the outbox (its last entry, to fill). */
static ll_bt_event *outbox_put(ll_bt *bt, uint32_t kind)
{
    if (bt->out_n == OUTBOX) { /* cannot happen: at most a report and a snapshot wait at once */
        fail(bt, LL_ENORES);
        return NULL;
    }
    ll_bt_event *e = &bt->outbox[(bt->out_head + bt->out_n++) % OUTBOX];
    e->kind = kind;
    return e;
}

/* A report for the strategy; 1 if it will be handed out (it has a handler for that kind). */
static int report(ll_bt *bt, const ll_ts_report *r)
{
    if ((bt->cfg.skip_reports >> r->kind) & 1)
        return 0;
    ll_bt_event *e = outbox_put(bt, LL_BT_EV_REPORT);
    if (e == NULL)
        return 0;
    e->report = *r;
    return 1;
}

/* An order leaves the engine (lab 7's emit_order): OUCH bytes onto the order leg. */
static void to_exchange(ll_bt *bt, const ll_oms_send *s, int64_t now)
{
    wire *w = leg_push(bt, &bt->orders, now);
    if (w == NULL)
        return;
    ll_ouch_msg m;
    int enter = s->kind == LL_OMS_SEND_NEW;
    ll_ouch_engine_order(&m, enter, s->user_ref, s->side, s->qty, bt->sym[s->locate], s->price, s->cl_ord_id);
    if (enter) {
        bt->st.orders_sent++;
        bt->st.orders++;
        bt->sent[bt->n_sent++] = (ll_bt_order){now, w->at, s->cl_ord_id, s->price, s->qty, s->locate, s->side, 0};
    } else
        bt->st.cancels_sent++;
    w->len = (uint16_t)ll_ouch_encode(&m, LL_OUCH_INBOUND, w->msg, sizeof w->msg);
}

/* The kill switch's queued actions (lab 7's take_actions): a HALTED report,
 * then a cancel per open order.  pyimpl takes them all from the OMS, hands
 * the report to the strategy, then sends the cancels.  Here the cancels go
 * onto the order leg at once (nothing can happen between the two: the
 * strategy cannot send, and the leg's clock and delays are consumed in the
 * same order), but they are counted as sent only once the strategy has
 * taken the report (`held`, until the next ll_bt_next): should it raise on
 * the report, both loops stop with the same counts. */
static void kill_actions(ll_bt *bt, int64_t now)
{
    ll_oms_send s;
    ll_ts_report r;
    int reported = 0;
    while (ll_oms_pending(bt->oms) > 0) {
        int a = ll_oms_next_action(bt->oms, &s, &r);
        if (a == LL_OMS_ACT_REPORT) {
            bt->st.halted = r.reason;
            reported = report(bt, &r);
        } else if (a == LL_OMS_ACT_SEND) {
            to_exchange(bt, &s, now);
            bt->held += (uint32_t)reported;
        } else
            break;
    }
}

/* One intent of the snapshot's answer (pyimpl's on_intents, one turn). */
static void take_intent(ll_bt *bt, const ll_ts_intent *in)
{
    ll_oms_send s;
    ll_ts_report r;
    int rc;
    if (in->kind == LL_INTENT_NEW)
        rc = ll_oms_submit(bt->oms, in, (uint64_t)bt->now, &s, &r);
    else if (in->kind == LL_INTENT_CANCEL)
        rc = ll_oms_cancel(bt->oms, in->cl_ord_id, (uint64_t)bt->now, &s, &r);
    else
        return; /* SIGNAL, HEARTBEAT: nothing to do in a backtest */
    int told = 0;
    if (rc == LL_RISK_OK)
        to_exchange(bt, &s, bt->now);
    else if (rc > 0) {
        bt->st.rejects++;
        told = report(bt, &r);
    } else
        fail(bt, rc);
    if (told)
        bt->kill_due = 1; /* after the strategy has been told */
    else
        kill_actions(bt, bt->now);
}

/* One reply reaches the engine (lab 7's on_reply, and pyimpl's). */
static void take_reply(ll_bt *bt)
{
    const wire *w = leg_front(&bt->replies);
    int64_t now = w->at;
    ll_ouch_msg m;
    int64_t dec = ll_ouch_decode(w->msg, w->len, LL_OUCH_OUTBOUND, &m);
    bt->replies.tail++;
    if (dec < 0) { /* cannot happen: the matcher writes whole messages */
        fail(bt, dec);
        return;
    }
    bt->now = now;
    ll_ts_report r;
    int rc;
    uint32_t price = 0;
    switch (m.type) {
    case 'A':
        rc = ll_oms_on_accepted(bt->oms, m.user_ref, m.order_ref, (uint64_t)now, &r);
        break;
    case 'E':
        (void)ll_ouch_price_u32(m.price, &price);
        rc = ll_oms_on_executed(bt->oms, m.user_ref, m.qty, price, m.match, m.liquidity, (uint64_t)now, &r);
        if (rc == 0) {
            double fee = (m.liquidity == LL_OUCH_LIQ_ADDED ? bt->cfg.maker_fee : bt->cfg.taker_fee) * (double)m.qty;
            bt->fills[bt->n_fills++] = (ll_bt_fill){(int64_t)m.timestamp, now, fee, r.cl_ord_id, price, m.qty,
                                                    r.locate, r.side, m.liquidity};
            bt->st.fills++;
        }
        break;
    case 'C':
        rc = ll_oms_on_canceled(bt->oms, m.user_ref, m.qty, (uint8_t)m.reason, (uint64_t)now, &r);
        break;
    case 'J':
        if (m.reason == LL_OUCH_REJ_CANCEL_NOT_ALLOWED) {
            /* The race every order manager meets: our cancel crossed the fill
             * that closed the order.  The OMS already knows it is over (the
             * fill came first, on this same leg): nothing to report. */
            ll_oms_order_rec rec;
            if (ll_oms_order(bt->oms, m.user_ref, &rec) == 1 &&
                (rec.state == LL_OMS_FILLED || rec.state == LL_OMS_CANCELED))
                return;
            rc = ll_oms_on_cancel_rejected(bt->oms, m.user_ref, (uint64_t)now, &r);
        } else
            rc = ll_oms_on_rejected(bt->oms, m.user_ref, m.reason, (uint64_t)now, &r);
        break;
    default: /* S: the exchange's day; U: we never replace */
        return;
    }
    int told = 0;
    if (rc == 0)
        told = report(bt, &r);
    else if (rc < 0)
        fail(bt, rc);
    /* rc > 0: an illegal reply, refused and counted by the OMS */
    if (told)
        bt->kill_due = 1;
    else
        kill_actions(bt, now);
}

/* Message i reaches the engine at `now`: book, features, the mark, the quote
 * for the OMS, and the snapshot for the strategy. */
static void engine_feed(ll_bt *bt, uint64_t i, int64_t now)
{
    const uint8_t *msg = bt->cfg.stream + bt->body[i];
    uint32_t len = ll_be16(msg - 2);
    double row[LL_ML_N_FEATURES];
    ll_book_err berr;
    bt->in_feed = 1;
    bt->now = now;
    int rc = ll_ml_engine_apply(bt->fe, msg, len, row, &berr);
    if (rc < 0) { /* the exchange's book took this message: the engine's, the same book, must too */
        fail(bt, rc);
        return;
    }
    uint16_t locate = ll_be16(msg + LL_ITCH_OFF_LOCATE); /* a known type (the book took it): it has one */
    if (rc == 0) {
        if (msg[0] == 'R') { /* the directory: a symbol we may trade, and its name for OUCH */
            if (!bt->sym_seen[locate]) {
                bt->sym_seen[locate] = 1;
                bt->sym_order[bt->n_sym++] = locate;
            }
            memcpy(bt->sym[locate], msg + LL_ITCH_OFF_R_STOCK, 8);
            int a = ll_oms_add_symbol(bt->oms, locate);
            if (a < 0)
                fail(bt, a);
        }
        return;
    }
    bt->st.book_updates++;
    uint64_t best[4] = {0, 0, 0, 0};
    int mask = ll_book_best(bt->book, locate, best);
    uint32_t bid = mask & 1 ? (uint32_t)best[0] : 0, ask = mask & 2 ? (uint32_t)best[2] : 0;
    bt->marks[bt->n_marks++] = (ll_bt_mark){bt->stamp[i], bid, ask, locate, {0, 0, 0}};
    bt->st.marks++;
    (void)ll_oms_on_quote(bt->oms, locate, bid, ask, (uint64_t)now);
    kill_actions(bt, now); /* the mark may have tripped the loss limit */
    ll_bt_event *e = outbox_put(bt, LL_BT_EV_SNAPSHOT);
    if (e == NULL)
        return;
    ll_ts_snapshot *s = &e->snap;
    s->seq = i + 1;
    s->send_ns = (uint64_t)bt->stamp[i];
    s->engine_ns = (uint64_t)now;
    s->locate = locate;
    s->dropped = 0; /* a backtest never drops one: the strategy is as fast as the replay lets it be */
    s->bid = bid;
    s->ask = ask;
    s->bid_size = mask & 1 ? (uint32_t)best[1] : 0;
    s->ask_size = mask & 2 ? (uint32_t)best[3] : 0;
    int finite_all = 1;
    for (int k = 0; k < LL_ML_N_FEATURES; k++) {
        s->features[k] = row[k];
        finite_all &= isfinite(row[k]) != 0;
    }
    s->flags = finite_all ? LL_SNAP_FEATURES_OK : 0;
}

/* The replies of one matcher call at time `now` (n bytes of OUCH messages in
 * xout) onto the reply leg. */
static void to_engine(ll_bt *bt, int64_t n, int64_t now)
{
    for (int64_t off = 0; off < n;) {
        uint32_t size = ll_ouch_out_size(bt->xout[off]);
        if (size == 0 || off + size > n) { /* cannot happen: the matcher writes whole messages */
            fail(bt, LL_ECORRUPT);
            return;
        }
        wire *w = leg_push(bt, &bt->replies, now);
        if (w == NULL)
            return;
        memcpy(w->msg, bt->xout + off, size);
        w->len = (uint16_t)size;
        off += size;
    }
}

/* Message i_x at the exchange: the true book, and the fills it causes. */
static void exchange_feed(ll_bt *bt)
{
    const uint8_t *msg = bt->cfg.stream + bt->body[bt->i_x];
    int64_t n = ll_exch_on_feed(bt->x, msg, ll_be16(msg - 2), bt->xout, bt->xcap);
    if (n < 0) { /* the book refuses it (an unknown order...): bad data, not ours */
        bt->stop_code = n, bt->stop_msg = bt->i_x, bt->stop_off = bt->body[bt->i_x] - 2;
        if (bt->cfg.lenient)
            bt->n = bt->i_x; /* replay what came before it */
        else
            fail(bt, n);
        return;
    }
    int64_t now = bt->stamp[bt->i_x++];
    to_engine(bt, n, now);
}

/* The order leg's head reaches the exchange. */
static void exchange_order(ll_bt *bt)
{
    const wire *w = leg_front(&bt->orders);
    int64_t now = w->at;
    int64_t n = ll_exch_on_order(bt->x, w->msg, w->len, (uint64_t)now, bt->xout, bt->xcap);
    bt->orders.tail++;
    if (n < 0) /* cannot happen: the bytes are ours */
        fail(bt, n);
    else
        to_engine(bt, n, now);
}

/* ------------------------------------------------------------ the loop */
static int hand_out(ll_bt *bt)
{
    bt->ev = bt->outbox[bt->out_head];
    bt->out_head = (bt->out_head + 1) % OUTBOX;
    bt->out_n--;
    bt->ev.events = bt->i_e;
    if (bt->ev.kind == LL_BT_EV_SNAPSHOT) {
        bt->st.snapshots++;
        bt->awaiting = 1;
    }
    return (int)bt->ev.kind;
}

static int event(ll_bt *bt, uint32_t kind)
{
    bt->ev.kind = kind;
    bt->ev.events = bt->i_e;
    return (int)kind;
}

/* Run until the strategy must be called, or the caller must act. */
static int run_to_event(ll_bt *bt)
{
    for (;;) {
        if (bt->err)
            return (int)bt->err;
        if (bt->out_n > 0)
            return hand_out(bt);
        if (bt->kill_due) {
            bt->kill_due = 0;
            kill_actions(bt, bt->now);
            continue;
        }
        if (bt->in_k < bt->in_n) {
            take_intent(bt, &bt->in[bt->in_k++]);
            continue;
        }
        if (bt->stopping) /* the strategy failed on this message: it is not counted as done */
            return event(bt, LL_BT_EV_STOPPED);
        if (bt->in_feed) { /* the engine's message is done */
            bt->in_feed = 0;
            bt->in_n = bt->in_k = 0;
            bt->i_e++;
            if (bt->cfg.progress && bt->i_e % LL_BT_PROGRESS_EVERY == 0)
                return event(bt, LL_BT_EV_PROGRESS);
            continue;
        }
        if (bt->n_fills + HEADROOM > bt->cfg.record_rows || bt->n_marks + HEADROOM > bt->cfg.record_rows ||
            bt->n_sent + HEADROOM > bt->cfg.record_rows) {
            bt->flushed = 1;
            return event(bt, LL_BT_EV_FLUSH);
        }
        /* the merge: the earliest head; at equal times exchange feed, exchange
         * orders, engine replies, engine feed (pyimpl's tie order) */
        if (bt->i_e >= bt->n && leg_empty(&bt->orders) && leg_empty(&bt->replies))
            return event(bt, LL_BT_EV_DONE);
        int64_t tx = bt->i_x < bt->n ? bt->stamp[bt->i_x] : NEVER;
        int64_t to = leg_time(&bt->orders), tr = leg_time(&bt->replies);
        int64_t te = bt->i_e < bt->n ? bt->feed_at[bt->i_e] : NEVER;
        if (tx <= to && tx <= tr && tx <= te)
            exchange_feed(bt);
        else if (to <= tr && to <= te)
            exchange_order(bt);
        else if (tr <= te)
            take_reply(bt);
        else
            engine_feed(bt, bt->i_e, te);
    }
}

LL_EXPORT const ll_bt_event *ll_bt_event_slot(const ll_bt *bt) { return bt ? &bt->ev : NULL; }

LL_EXPORT ll_ts_intent *ll_bt_intent_slots(ll_bt *bt) { return bt ? bt->in : NULL; }

LL_EXPORT int ll_bt_next(ll_bt *bt, uint32_t n)
{
    if (bt == NULL || bt->orders.delay == NULL || (n > 0 && (!bt->awaiting || n > LL_BT_MAX_INTENTS)))
        return LL_EINVAL;
    if (!bt->started) {
        bt->started = 1;
        if (bt->stop_code != 0 && !bt->cfg.lenient) /* strict: a bad frame stops the run before it starts */
            fail(bt, bt->stop_code);
    }
    if (bt->ev.kind == LL_BT_EV_REPORT && bt->ev.report.kind == LL_REPORT_HALTED)
        bt->held = 0; /* the caller is back: the strategy took the kill switch's report */
    if (bt->flushed) { /* the caller has read them */
        bt->flushed = 0;
        bt->n_fills = bt->n_marks = bt->n_sent = 0;
    }
    if (bt->awaiting) { /* the answer to the snapshot just handed out */
        bt->awaiting = 0;
        bt->in_n = n;
        bt->in_k = 0;
    }
    return run_to_event(bt);
}

LL_EXPORT int ll_bt_run_strategy(ll_bt *bt, const ll_bt_strategy *s)
{
    if (bt == NULL || (s != NULL && (s->on_features == NULL || s->on_report == NULL)))
        return LL_EINVAL;
    uint32_t n = 0;
    for (;;) {
        int k = ll_bt_next(bt, n);
        n = 0;
        if (k == LL_BT_EV_SNAPSHOT) {
            if (s != NULL) {
                int got = s->on_features(s->state, &bt->ev.snap, bt->in);
                if (got < 0 || got > (int)LL_BT_MAX_INTENTS)
                    return (int)fail(bt, got < 0 ? got : LL_EINVAL);
                n = (uint32_t)got;
            }
        } else if (k == LL_BT_EV_REPORT) {
            int rc = s != NULL ? s->on_report(s->state, &bt->ev.report) : LL_OK;
            if (rc < 0)
                return (int)fail(bt, rc);
        } else
            return k;
    }
}

static int signal_features(void *st, const ll_ts_snapshot *snap, ll_ts_intent *out)
{
    return ll_ts_signal_on_features(st, snap, out);
}

static int signal_report(void *st, const ll_ts_report *r) { return ll_ts_signal_on_report(st, r); }

LL_EXPORT int ll_bt_run(ll_bt *bt, ll_ts_signal *sig)
{
    ll_bt_strategy s = {signal_features, signal_report, sig};
    return ll_bt_run_strategy(bt, sig ? &s : NULL);
}

LL_EXPORT void ll_bt_stop(ll_bt *bt)
{
    if (bt != NULL)
        bt->stopping = 1;
}

/* ------------------------------------------------------------ the market maker
 * pyimpl.trading_system.MarketMaker, line for line (backtest.h says what it
 * does).  Python keeps quotes[(locate, side)] and _by_id[cl_ord_id] ->
 * (locate, side), the inverse of quotes (an id is added with its quote and
 * both leave together); here the quotes are by locate and side, and a
 * report finds its quote at its own locate by cl_ord_id (the order
 * manager's reports carry the order's locate: the same lookup). */
enum { BID = 0, ASK = 1 };

typedef struct {
    uint32_t cl_ord_id; /* the working order (0: none; ids start at 1) */
    uint32_t price;
    uint32_t cooldown;  /* snapshots to wait after a rejection (kept when the quote goes) */
    uint8_t canceling;  /* its cancel is out, not yet answered */
} mm_quote;

typedef struct {
    mm_quote q[2]; /* BID, ASK */
    int64_t position;
} mm_sym;

struct ll_bt_mm {
    ll_bt_mm_params p; /* symbols: not kept (quoted[] has them) */
    uint64_t next_id;  /* > UINT32_MAX: the ids are used up */
    ll_bt_mm_stats st;
    mm_sym *sym;       /* [65536] */
    uint8_t *quoted;   /* [65536]: 1 if it quotes that locate */
};

LL_EXPORT ll_bt_mm *ll_bt_mm_create(const ll_bt_mm_params *p, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    *err = LL_EINVAL;
    if (p == NULL || p->qty == 0 || p->max_position < 0 || p->max_position > LL_BT_MM_MAX_POSITION ||
        p->first_id == 0 || (p->symbols == NULL && p->n_symbols > 0))
        return NULL;
    ll_bt_mm *mm = calloc(1, sizeof *mm);
    if (mm != NULL) {
        mm->sym = calloc(65536, sizeof *mm->sym);
        mm->quoted = malloc(65536);
    }
    if (mm == NULL || mm->sym == NULL || mm->quoted == NULL) {
        ll_bt_mm_destroy(mm);
        *err = LL_ENORES;
        return NULL;
    }
    mm->p = *p;
    mm->p.symbols = NULL;
    mm->next_id = p->first_id;
    memset(mm->quoted, p->symbols == NULL, 65536);
    for (uint32_t i = 0; p->symbols != NULL && i < p->n_symbols; i++)
        mm->quoted[p->symbols[i]] = 1;
    *err = LL_OK;
    return mm;
}

LL_EXPORT void ll_bt_mm_destroy(ll_bt_mm *mm)
{
    if (mm == NULL)
        return;
    free(mm->sym);
    free(mm->quoted);
    free(mm);
}

static void mm_intent(ll_ts_intent *i, uint8_t kind, uint8_t side, uint16_t locate, uint32_t cid, uint32_t price,
                      uint32_t qty)
{
    memset(i, 0, sizeof *i);
    i->kind = kind, i->side = side, i->locate = locate, i->cl_ord_id = cid, i->price = price, i->qty = qty;
}

/* lots x skew_ticks x TICK for |lots| = lots_mag, saturated at OFF_CAP: any
 * offset that large puts a bid below 0 and an ask above UINT32_MAX. */
#define OFF_CAP (1ll << 33)
static int64_t mm_offset(uint64_t lots_mag, uint32_t skew)
{
    if (lots_mag == 0 || skew == 0)
        return 0;
    uint64_t per = (uint64_t)skew * LL_BT_MM_TICK;
    return lots_mag > (uint64_t)OFF_CAP / per ? OFF_CAP : (int64_t)(lots_mag * per);
}

LL_EXPORT int ll_bt_mm_on_features(ll_bt_mm *mm, const ll_ts_snapshot *snap, ll_ts_intent out[2])
{
    if (mm == NULL || snap == NULL || out == NULL)
        return LL_EINVAL;
    uint16_t loc = snap->locate;
    if (!mm->quoted[loc] || snap->bid == 0 || snap->ask == 0)
        return 0;
    mm_sym *s = &mm->sym[loc];
    int64_t pos = s->position, qty = mm->p.qty, maxp = mm->p.max_position;
    /* Python's int(pos / qty): toward zero, so a short's lots are -(|pos| / qty) */
    uint64_t mag = pos < 0 ? 0 - (uint64_t)pos : (uint64_t)pos, lots = mag / (uint64_t)qty;
    int64_t want[2] = {(int64_t)snap->bid - (pos > 0 ? mm_offset(lots, mm->p.skew_ticks) : 0),
                       (int64_t)snap->ask + (pos < 0 ? mm_offset(lots, mm->p.skew_ticks) : 0)};
    /* pos + qty <= maxp, pos - qty >= -maxp, without overflow (0 <= maxp <= 2^62, qty < 2^32) */
    int allowed[2] = {pos <= maxp - qty, pos >= qty - maxp};
    static const uint8_t SIDE[2] = {'B', 'S'};
    int n = 0;
    for (int k = BID; k <= ASK; k++) {
        mm_quote *q = &s->q[k];
        if (q->cl_ord_id != 0) {
            if ((!allowed[k] || (int64_t)q->price != want[k]) && !q->canceling) {
                q->canceling = 1;
                mm_intent(&out[n++], LL_INTENT_CANCEL, SIDE[k], loc, q->cl_ord_id, 0, 0);
                mm->st.cancels++;
            }
            continue;
        }
        if (q->cooldown > 0) {
            q->cooldown--;
            continue;
        }
        if (allowed[k] && want[k] > 0 && want[k] <= UINT32_MAX && mm->next_id <= UINT32_MAX) {
            *q = (mm_quote){(uint32_t)mm->next_id++, (uint32_t)want[k], 0, 0};
            mm_intent(&out[n++], LL_INTENT_NEW, SIDE[k], loc, q->cl_ord_id, q->price, mm->p.qty);
            mm->st.orders++;
        }
    }
    return n;
}

/* The report's working order (Python's _by_id lookup), NULL if it is none of ours. */
static mm_quote *mm_find(ll_bt_mm *mm, const ll_ts_report *r)
{
    mm_sym *s = &mm->sym[r->locate];
    if (r->cl_ord_id == 0)
        return NULL;
    for (int k = BID; k <= ASK; k++)
        if (s->q[k].cl_ord_id == r->cl_ord_id)
            return &s->q[k];
    return NULL;
}

/* Python's _gone: an order over (leaves 0) is no longer working. */
static void mm_gone(ll_bt_mm *mm, const ll_ts_report *r)
{
    mm_quote *q = mm_find(mm, r);
    if (q != NULL && r->leaves == 0)
        q->cl_ord_id = q->price = 0, q->canceling = 0;
}

LL_EXPORT int ll_bt_mm_on_report(ll_bt_mm *mm, const ll_ts_report *r)
{
    if (mm == NULL || r == NULL)
        return LL_EINVAL;
    switch (r->kind) {
    case LL_REPORT_ACCEPTED:
        return LL_OK;
    case LL_REPORT_EXECUTED:
        mm->st.fills++;
        mm->sym[r->locate].position = r->position;
        mm_gone(mm, r);
        return LL_OK;
    case LL_REPORT_CANCELED:
        mm_gone(mm, r);
        return LL_OK;
    default: { /* REJECTED, and (as pyimpl's loop hands them to on_reject) HALTED and any other kind */
        mm->st.rejects++;
        mm_quote *q = mm_find(mm, r);
        if (q == NULL)
            return LL_OK;
        if (r->leaves == 0) { /* the order is over (refused, or a cancel refused because it had closed) */
            if (!q->canceling)
                q->cooldown = mm->p.reject_cooldown; /* refused: this side waits */
            q->cl_ord_id = q->price = 0, q->canceling = 0;
        } else /* a refused cancel: the order still works */
            q->canceling = 0;
        return LL_OK;
    }
    }
}

LL_EXPORT void ll_bt_mm_get_stats(const ll_bt_mm *mm, ll_bt_mm_stats *out)
{
    if (mm != NULL && out != NULL)
        *out = mm->st;
}

LL_EXPORT int64_t ll_bt_mm_position(const ll_bt_mm *mm, uint16_t locate)
{
    return mm != NULL ? mm->sym[locate].position : 0;
}

static int mm_features(void *st, const ll_ts_snapshot *snap, ll_ts_intent *out)
{
    return ll_bt_mm_on_features(st, snap, out);
}

static int mm_report(void *st, const ll_ts_report *r) { return ll_bt_mm_on_report(st, r); }

LL_EXPORT int ll_bt_run_mm(ll_bt *bt, ll_bt_mm *mm)
{
    ll_bt_strategy s = {mm_features, mm_report, mm};
    return ll_bt_run_strategy(bt, mm ? &s : NULL);
}

/* ------------------------------------------------------------ results */
LL_EXPORT int64_t ll_bt_records(const ll_bt *bt, int which, const void **rows)
{
    if (bt == NULL || rows == NULL)
        return LL_EINVAL;
    switch (which) {
    case LL_BT_FILLS: *rows = bt->fills; return bt->n_fills;
    case LL_BT_MARKS: *rows = bt->marks; return bt->n_marks;
    case LL_BT_ORDERS: *rows = bt->sent; return bt->n_sent;
    default: return LL_EINVAL;
    }
}

LL_EXPORT void ll_bt_get_stats(const ll_bt *bt, ll_bt_stats *out)
{
    if (bt == NULL || out == NULL)
        return;
    *out = bt->st;
    out->events = bt->i_e;
    out->cancels_sent -= bt->held;
}

LL_EXPORT int64_t ll_bt_stream_error(const ll_bt *bt, uint64_t *message, uint64_t *offset)
{
    if (bt == NULL)
        return LL_EINVAL;
    if (message != NULL)
        *message = bt->stop_msg;
    if (offset != NULL)
        *offset = bt->stop_off;
    return bt->stop_code;
}

LL_EXPORT int64_t ll_bt_symbols(const ll_bt *bt, uint16_t *locates, char *names8, uint64_t max)
{
    if (bt == NULL || ((locates == NULL || names8 == NULL) && max > 0))
        return LL_EINVAL;
    for (uint64_t i = 0; i < bt->n_sym && i < max; i++) {
        locates[i] = bt->sym_order[i];
        memcpy(names8 + 8 * i, bt->sym[bt->sym_order[i]], 8);
    }
    return bt->n_sym;
}

/* (user_ref, qty, price), the fields both sides record of a fill */
typedef struct {
    uint32_t user_ref, qty, price;
} fill_key;

static int key_cmp(const void *a, const void *b)
{
    const fill_key *p = a, *q = b;
    if (p->user_ref != q->user_ref)
        return p->user_ref < q->user_ref ? -1 : 1;
    if (p->qty != q->qty)
        return p->qty < q->qty ? -1 : 1;
    return p->price < q->price ? -1 : p->price > q->price;
}

/* Net positions: each symbol the OMS knows has the exchange's position, and
 * the exchange has no other nonzero one (pyimpl compares the two dicts of
 * nonzero positions). */
static int same_positions(const ll_bt *bt, ll_oms_position_rec *pos, int64_t *xpos)
{
    int64_t k = ll_oms_positions(bt->oms, pos, LL_OMS_MAX_SYMBOLS), nonzero = 0;
    for (int64_t i = 0; i < k; i++) {
        int64_t xp[2];
        (void)ll_exch_position(bt->x, pos[i].locate, xp);
        if (xp[0] != pos[i].position)
            return 0;
        nonzero += pos[i].position != 0;
    }
    uint32_t nx = ll_exch_positions(bt->x, NULL, xpos, NULL, LL_OMS_MAX_SYMBOLS);
    for (uint32_t i = 0; i < nx && i < LL_OMS_MAX_SYMBOLS; i++)
        nonzero -= xpos[i] != 0;
    return nonzero == 0;
}

LL_EXPORT int ll_bt_reconcile(const ll_bt *bt)
{
    if (bt == NULL)
        return LL_EINVAL;
    uint64_t n = ll_oms_fill_count(bt->oms);
    if (ll_exch_fills(bt->x, 0, NULL, 0) != (int64_t)n)
        return 0;
    uint64_t m = n ? n : 1;
    ll_oms_fill_rec *of = malloc(m * sizeof *of);
    ll_exch_fill *xf = malloc(m * sizeof *xf);
    fill_key *a = malloc(m * sizeof *a), *b = malloc(m * sizeof *b);
    ll_oms_position_rec *pos = malloc(LL_OMS_MAX_SYMBOLS * sizeof *pos);
    int64_t *xpos = malloc(LL_OMS_MAX_SYMBOLS * sizeof *xpos);
    int ok = LL_ENORES;
    if (of && xf && a && b && pos && xpos) {
        (void)ll_oms_fills(bt->oms, 0, of, n);
        (void)ll_exch_fills(bt->x, 0, xf, n);
        for (uint64_t i = 0; i < n; i++) {
            a[i] = (fill_key){of[i].user_ref, of[i].qty, of[i].price};
            b[i] = (fill_key){xf[i].user_ref, xf[i].qty, xf[i].price};
        }
        qsort(a, n, sizeof *a, key_cmp); /* one for one: the same multiset, whatever the order */
        qsort(b, n, sizeof *b, key_cmp);
        ok = memcmp(a, b, n * sizeof *a) == 0 && same_positions(bt, pos, xpos);
    }
    free(of);
    free(xf);
    free(a);
    free(b);
    free(pos);
    free(xpos);
    return ok;
}

LL_EXPORT int64_t ll_bt_layout_info(const char *what)
{
    static const struct {
        const char *name;
        int64_t value;
    } facts[] = {
#define SZ(t) {"sizeof " #t, (int64_t)sizeof(t)}
#define OFF(t, f) {"offsetof " #t "." #f, (int64_t)offsetof(t, f)}
        SZ(ll_bt_config), OFF(ll_bt_config, stream), OFF(ll_bt_config, len), OFF(ll_bt_config, maker_fee),
        OFF(ll_bt_config, taker_fee), OFF(ll_bt_config, lenient), OFF(ll_bt_config, progress),
        OFF(ll_bt_config, skip_reports), OFF(ll_bt_config, leg_capacity), OFF(ll_bt_config, record_rows),
        SZ(ll_bt_event), OFF(ll_bt_event, kind), OFF(ll_bt_event, events), OFF(ll_bt_event, snap),
        OFF(ll_bt_event, report),
        SZ(ll_bt_fill), OFF(ll_bt_fill, ts_ns), OFF(ll_bt_fill, seen_ns), OFF(ll_bt_fill, fee),
        OFF(ll_bt_fill, cl_ord_id), OFF(ll_bt_fill, price), OFF(ll_bt_fill, qty), OFF(ll_bt_fill, locate),
        OFF(ll_bt_fill, side), OFF(ll_bt_fill, liquidity),
        SZ(ll_bt_mark), OFF(ll_bt_mark, ts_ns), OFF(ll_bt_mark, bid), OFF(ll_bt_mark, ask), OFF(ll_bt_mark, locate),
        SZ(ll_bt_order), OFF(ll_bt_order, decided_ns), OFF(ll_bt_order, arrive_ns), OFF(ll_bt_order, cl_ord_id),
        OFF(ll_bt_order, price), OFF(ll_bt_order, qty), OFF(ll_bt_order, locate), OFF(ll_bt_order, side),
        SZ(ll_bt_stats), SZ(ll_bt_mm_stats), SZ(ll_bt_mm_params), OFF(ll_bt_mm_params, qty),
        OFF(ll_bt_mm_params, skew_ticks), OFF(ll_bt_mm_params, max_position), OFF(ll_bt_mm_params, reject_cooldown),
        OFF(ll_bt_mm_params, first_id), OFF(ll_bt_mm_params, symbols), OFF(ll_bt_mm_params, n_symbols),
        {"mm_max_position", LL_BT_MM_MAX_POSITION}, SZ(ll_ts_intent), SZ(ll_ts_snapshot), SZ(ll_ts_report),
        {"max_intents", LL_BT_MAX_INTENTS}, {"max_ns", LL_BT_MAX_NS}, {"progress_every", LL_BT_PROGRESS_EVERY},
#undef SZ
#undef OFF
    };
    if (what == NULL)
        return -1;
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
        if (strcmp(facts[i].name, what) == 0)
            return facts[i].value;
    return -1;
}
