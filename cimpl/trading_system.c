/*
 * trading_system.c - lab 7: the trading system's C side.
 *
 *   - the strategy's doorbell (an eventcount on a futex word): how a process
 *     that cannot have a core of its own waits without missing a message;
 *   - the C strategy: SignalParams' rules (pyimpl/trading_system.py) inside
 *     the engine's process, the lower bound of tick-to-signal;
 *   - the engine: feed handler (lab 5's book, lab 6's features), snapshots
 *     out on ring A, intents in on ring B, the order manager and its risk
 *     checks (oms.c), OUCH to the exchange, reports back on ring C;
 *   - the exchange process's loop around the matcher (exchange.c).
 *
 * The wires are in ts_layout.h.  Every loop here is single-threaded and
 * allocates nothing: the buffers (backlogs, latency samples) are sized when
 * the object is created.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "exchange.h"
#include "itch.h"
#include "ml_inference.h"
#include "oms.h"
#include "shm_layout.h"
#include "ouch.h"
#include "spsc_ring.h"
#include "trading_system.h"
/* ------------------------------------------------------------ the doorbell */
/* The lost wake-up, and why it cannot happen here.  The strategy (sleeper)
 * does      S1 sleeper = 1;  S2 read the rings;  if empty: S3 futex_wait(seq, s)
 * the engine (waker) does  W1 push a message;  W2 read sleeper;  if 1: W3 seq++, futex_wake.
 * With plain stores and loads, x86 may let S2 read the ring before S1's store
 * is visible (a store may wait in the store buffer while a later load goes
 * ahead: lab 4's SB test), and W2 read sleeper = 0 before W1 is visible: both
 * miss each other, and the strategy sleeps on a message.  So S1 is a seq_cst
 * exchange and W2 sits behind a seq_cst fence: one of the two sides must see
 * the other (it is lab 4's store-buffering test, with its fix).  And S3 only
 * sleeps if seq is still the `s` read before S2: a wake between S2 and S3
 * changed seq, so futex_wait returns at once. */
static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

/* The waker's half, after a push: ~2 ns while nobody sleeps. */
static inline void bell_ring(ll_ts_bell *b)
{
    atomic_thread_fence(memory_order_seq_cst); /* W1 before W2 (the SB fix, above) */
    if (atomic_load_explicit(&b->sleeper, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&b->seq, 1, memory_order_release);
        futex(&b->seq, FUTEX_WAKE, INT_MAX, NULL); /* shared futex: the segment is mapped by two processes */
    }
}

LL_EXPORT void ll_ts_bell_ring(ll_ts_bell *b)
{
    if (b != NULL)
        bell_ring(b);
}

/* The sleeper's halves.  prepare: S1, and the seq to sleep on (read after S1). */
LL_EXPORT uint32_t ll_ts_bell_prepare(ll_ts_bell *b)
{
    atomic_exchange_explicit(&b->sleeper, 1, memory_order_seq_cst); /* S1: a full barrier on x86 (xchg) */
    return atomic_load_explicit(&b->seq, memory_order_acquire);
}

/* wait: S3, if the rings were still empty at S2.  1 = woken (or seq had
 * moved), 0 = timed out; sleeper is cleared either way. */
LL_EXPORT int ll_ts_bell_wait(ll_ts_bell *b, uint32_t seq, uint64_t timeout_ns)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    long rc = futex(&b->seq, FUTEX_WAIT, seq, &ts);
    atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed);
    return rc == 0 || errno == EAGAIN || errno == EINTR ? 1 : 0;
}

/* cancel: the rings had something at S2 after all. */
LL_EXPORT void ll_ts_bell_cancel(ll_ts_bell *b) { atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed); }

/* ------------------------------------------------------------ the C strategy */
/* pyimpl.trading_system.SignalStrategy, rule for rule (a test holds the two
 * to the same intents on the same snapshots). */
typedef struct {
    uint32_t cl_ord_id; /* 0: no open order */
    uint8_t side;
    uint32_t age;
} sig_open;

struct ll_ts_signal {
    ll_ml_model *model;
    ll_ts_signal_params p;
    uint32_t next_id;
    uint64_t signals;
    sig_open open[65536];     /* by locate (u16): 768 KiB, allocated once */
    uint32_t cooldown[65536]; /* snapshots of the symbol to wait after a rejection */
    int64_t position[65536];
};

LL_EXPORT ll_ts_signal *ll_ts_signal_create(ll_ml_model *model, const ll_ts_signal_params *p, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (model == NULL || p == NULL || !(p->enter > 0.5 && p->enter <= 1.0) || p->qty == 0 || p->order_ttl == 0) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_ts_signal *s = calloc(1, sizeof *s);
    if (s == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    s->model = model;
    s->p = *p;
    s->next_id = 1;
    *err = LL_OK;
    return s;
}

LL_EXPORT void ll_ts_signal_destroy(ll_ts_signal *s) { free(s); }

static inline ll_ts_intent *put_intent(ll_ts_intent *out, uint32_t *n, uint8_t kind, uint8_t side, uint16_t locate,
                                       uint32_t cid, uint32_t price, uint32_t qty, uint32_t ppm)
{
    ll_ts_intent *i = &out[(*n)++];
    memset(i, 0, sizeof *i);
    i->kind = kind;
    i->side = side;
    i->locate = locate;
    i->cl_ord_id = cid;
    i->price = price;
    i->qty = qty;
    i->signal_ppm = ppm;
    return i;
}

/* on_features: at most 2 intents into out (a cancel, then an order or a signal); the count. */
LL_EXPORT int ll_ts_signal_on_features(ll_ts_signal *s, const ll_ts_snapshot *snap, ll_ts_intent out[2])
{
    if (s == NULL || snap == NULL || out == NULL)
        return LL_EINVAL;
    uint32_t n = 0;
    sig_open *mine = &s->open[snap->locate];
    if (mine->cl_ord_id != 0) {
        mine->age++;
        if (mine->age == s->p.order_ttl)
            put_intent(out, &n, LL_INTENT_CANCEL, mine->side, snap->locate, mine->cl_ord_id, 0, 0, 0);
    }
    uint32_t *cool = &s->cooldown[snap->locate];
    int cooling = *cool > 0;
    if (cooling)
        (*cool)--;
    if (snap->bid == 0 || snap->ask == 0)
        return (int)n;
    double prob;
    if (ll_ml_model_on_row(s->model, snap->features, &prob) != 1)
        return (int)n;
    s->signals++;
    uint32_t ppm = (uint32_t)(prob * 1e6 + 0.5);
    if (mine->cl_ord_id == 0 && !cooling) {
        int64_t pos = s->position[snap->locate], q = s->p.qty, maxp = s->p.max_position;
        int side = 0;
        uint32_t price = 0;
        if (prob >= s->p.enter && pos + q <= maxp)
            side = 'B', price = snap->ask;
        else if (prob <= 1.0 - s->p.enter && pos - q >= -maxp)
            side = 'S', price = snap->bid;
        if (side) {
            uint32_t cid = s->next_id++;
            *mine = (sig_open){cid, (uint8_t)side, 0};
            put_intent(out, &n, LL_INTENT_NEW, (uint8_t)side, snap->locate, cid, price, s->p.qty, ppm);
            return (int)n;
        }
    }
    put_intent(out, &n, LL_INTENT_SIGNAL, 0, snap->locate, 0, 0, 0, ppm);
    return (int)n;
}

/* The reports: kind LL_REPORT_*; the open order closes when a report says its
 * leaves are 0 (executed in full, canceled, rejected). */
LL_EXPORT int ll_ts_signal_on_report(ll_ts_signal *s, const ll_ts_report *r)
{
    if (s == NULL || r == NULL)
        return LL_EINVAL;
    sig_open *mine = &s->open[r->locate];
    if (r->kind == LL_REPORT_EXECUTED)
        s->position[r->locate] = r->position;
    /* leaves 0: the order is over (a rejected cancel leaves it open) */
    int closes = (r->kind == LL_REPORT_REJECTED || r->kind == LL_REPORT_EXECUTED || r->kind == LL_REPORT_CANCELED) &&
                 r->leaves == 0;
    if (closes && mine->cl_ord_id == r->cl_ord_id) {
        mine->cl_ord_id = 0;
        if (r->kind == LL_REPORT_REJECTED) /* the engine said no: do not ask again at once */
            s->cooldown[r->locate] = s->p.reject_cooldown;
    }
    return LL_OK;
}

LL_EXPORT uint64_t ll_ts_signal_count(const ll_ts_signal *s) { return s ? s->signals : 0; }

/* ------------------------------------------------------------ bounded FIFOs */
/* What must never be lost but may not fit its ring at once (orders, reports)
 * waits here, in order.  Sized at create; a full backlog is an error the
 * engine reports (LL_ENORES), never a silent drop. */
typedef struct {
    uint8_t *buf;
    uint32_t item, cap; /* bytes per item, items (a power of two) */
    uint64_t head, tail;
} fifo;

static int fifo_init(fifo *q, uint32_t item, uint32_t cap)
{
    q->buf = calloc(cap, item);
    q->item = item;
    q->cap = cap;
    q->head = q->tail = 0;
    return q->buf ? LL_OK : LL_ENORES;
}
static inline uint64_t fifo_len(const fifo *q) { return q->head - q->tail; }
static inline void *fifo_put(fifo *q)
{
    if (fifo_len(q) == q->cap)
        return NULL;
    return q->buf + (q->head++ & (q->cap - 1)) * q->item;
}
static inline void *fifo_peek(const fifo *q) { return q->buf + (q->tail & (q->cap - 1)) * q->item; }

/* ------------------------------------------------------------ samples */
typedef struct {
    int64_t *v;
    uint64_t n, cap, lost;
} samples;

static int samples_init(samples *s, uint64_t cap)
{
    s->v = calloc(cap ? cap : 1, sizeof *s->v);
    s->n = s->lost = 0;
    s->cap = cap;
    return s->v ? LL_OK : LL_ENORES;
}
/* How many samples there are (out NULL), or how many were copied into out (at most max). */
static int64_t samples_copy(const samples *s, int64_t *out, uint64_t max)
{
    if (out == NULL)
        return (int64_t)s->n;
    uint64_t n = s->n < max ? s->n : max;
    memcpy(out, s->v, n * sizeof *out);
    return (int64_t)n;
}

static inline void sample(samples *s, int64_t x)
{
    if (s->n < s->cap)
        s->v[s->n++] = x;
    else
        s->lost++;
}

/* ------------------------------------------------------------ the engine */
enum { PHASE_RUN = 0, PHASE_END_STRATEGY = 1, PHASE_DRAIN = 2, PHASE_DONE = 3 };

struct ll_ts_engine {
    ll_ml_engine *fe;
    ll_book *book;
    ll_oms *oms;
    ll_ts_signal *strat; /* NULL: the strategy is another process (rings A, B, C) */
    ll_ts_engine_cfg cfg;
    ll_ring *feed, *snap, *intent, *report, *orders, *replies;
    ll_ts_control *ctl;
    ll_ts_proc *me;
    fifo q_orders, q_reports;
    char symbols[65536][8]; /* locate -> ITCH stock (the feed's directory), for OUCH's Symbol */
    uint64_t expect_seq, last_seq;
    uint64_t strategy_seen_ns; /* the strategy's last intent (any kind); 0: never heard from */
    uint32_t strategy_gone;    /* 1 after it died or lapsed, until a new one speaks */
    uint32_t dropped_since;    /* snapshots dropped since the last one pushed */
    uint32_t halted_exchange;  /* 1: the exchange died: nothing can be sent */
    uint32_t bye, phase;
    uint64_t phase_ns;
    int64_t err;               /* the first error, reported by run */
    ll_ts_engine_stats st;
    samples s[LL_TS_N_SAMPLES];
};

static inline void cnt(ll_ts_engine *e, int i, uint64_t v)
{
    if (e->me)
        atomic_store_explicit(&e->me->counters[i], v, memory_order_relaxed);
}

LL_EXPORT void ll_ts_engine_cfg_default(ll_ts_engine_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->heartbeat_timeout_ns = 200000000ull; /* 200 ms without a word from the strategy */
    c->end_timeout_ns = 2000000000ull;      /* 2 s for the strategy's bye, and again for the last replies */
    c->max_samples = 1u << 20;
    c->backlog = 1u << 16;
}

LL_EXPORT ll_ts_engine *ll_ts_engine_create(ll_ml_engine *fe, ll_oms *oms, ll_ts_signal *strat,
                                            const ll_ts_engine_cfg *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (fe == NULL || oms == NULL || cfg == NULL || cfg->backlog == 0 || (cfg->backlog & (cfg->backlog - 1)) ||
        cfg->max_samples > (1u << 26)) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_ts_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    e->fe = fe;
    e->book = ll_ml_engine_book(fe);
    e->oms = oms;
    e->strat = strat;
    e->cfg = *cfg;
    int rc = fifo_init(&e->q_orders, sizeof(ll_ts_wire), cfg->backlog);
    if (rc == LL_OK)
        rc = fifo_init(&e->q_reports, sizeof(ll_ts_report), cfg->backlog);
    for (int i = 0; i < LL_TS_N_SAMPLES && rc == LL_OK; i++)
        rc = samples_init(&e->s[i], cfg->max_samples);
    if (rc != LL_OK) {
        ll_ts_engine_destroy(e);
        *err = rc;
        return NULL;
    }
    e->expect_seq = 1;
    *err = LL_OK;
    return e;
}

LL_EXPORT void ll_ts_engine_destroy(ll_ts_engine *e)
{
    if (e == NULL)
        return;
    free(e->q_orders.buf);
    free(e->q_reports.buf);
    for (int i = 0; i < LL_TS_N_SAMPLES; i++)
        free(e->s[i].v);
    free(e);
}

static void fail(ll_ts_engine *e, int64_t rc)
{
    if (e->err == 0)
        e->err = rc;
}

/* A report for the strategy: to the C strategy at once, or into the backlog for ring C. */
static void emit_report(ll_ts_engine *e, const ll_ts_report *r)
{
    if (r->kind == LL_REPORT_EXECUTED)
        e->st.fills++;
    if (e->strat != NULL) {
        (void)ll_ts_signal_on_report(e->strat, r);
        return;
    }
    ll_ts_report *slot = fifo_put(&e->q_reports);
    if (slot == NULL) {
        e->st.backlog_full++;
        fail(e, LL_ENORES);
        return;
    }
    *slot = *r;
    slot->ns = ll_now_ns();
}

/* An order for the exchange: OUCH bytes into the backlog for the orders ring. */
static void emit_order(ll_ts_engine *e, const ll_oms_send *s, uint64_t tick_ns)
{
    if (e->halted_exchange)
        return;
    ll_ts_wire *w = fifo_put(&e->q_orders);
    if (w == NULL) {
        e->st.backlog_full++;
        fail(e, LL_ENORES);
        return;
    }
    ll_ouch_msg m;
    int enter = s->kind == LL_OMS_SEND_NEW;
    ll_ouch_engine_order(&m, enter, s->user_ref, s->side, s->qty, e->symbols[s->locate], s->price, s->cl_ord_id);
    if (enter)
        e->st.orders++;
    else
        e->st.cancels++;
    int64_t n = ll_ouch_encode(&m, LL_OUCH_INBOUND, w->msg, sizeof w->msg);
    w->len = (uint16_t)(n > 0 ? n : 0);
    w->tick_ns = tick_ns;
    w->sent_ns = 0; /* stamped when it is pushed */
}

static void flush(ll_ts_engine *e);

/* The kill switch's queued actions (a HALTED report, then the cancels). */
static void take_actions(ll_ts_engine *e)
{
    ll_oms_send s;
    ll_ts_report r;
    while (ll_oms_pending(e->oms) > 0) {
        int a = ll_oms_next_action(e->oms, &s, &r);
        if (a == LL_OMS_ACT_REPORT)
            emit_report(e, &r);
        else if (a == LL_OMS_ACT_SEND)
            emit_order(e, &s, 0);
        else
            break;
    }
}

static void halt(ll_ts_engine *e, uint16_t reason)
{
    if (ll_oms_halted(e->oms) == 0) {
        (void)ll_oms_kill(e->oms, reason, ll_now_ns());
        e->st.kills++;
    }
    take_actions(e);
}

/* One intent, from ring B or from the C strategy.  now: when it arrived. */
static void on_intent(ll_ts_engine *e, const ll_ts_intent *in, uint64_t now)
{
    e->st.intents++;
    e->strategy_seen_ns = now;
    if (in->kind == LL_INTENT_HEARTBEAT || in->kind == LL_INTENT_BYE) {
        if (in->kind == LL_INTENT_BYE)
            e->bye = 1;
        return;
    }
    if (in->seq != 0 && (in->kind == LL_INTENT_SIGNAL || in->kind == LL_INTENT_NEW)) {
        sample(&e->s[LL_TS_S_TICK_TO_SIGNAL], (int64_t)(now - in->send_ns));
        if (e->strat == NULL) {
            sample(&e->s[LL_TS_S_HOP_INTENT], (int64_t)(now - in->sent_ns));
            sample(&e->s[LL_TS_S_STRATEGY], (int64_t)(in->sent_ns - in->recv_ns));
        }
    }
    if (in->kind == LL_INTENT_SIGNAL) {
        e->st.signals++;
        return;
    }
    ll_oms_send s;
    ll_ts_report r;
    int rc;
    if (in->kind == LL_INTENT_NEW) {
        uint64_t t0 = ll_now_ns();
        rc = ll_oms_submit(e->oms, in, t0, &s, &r);
        sample(&e->s[LL_TS_S_RISK], (int64_t)(ll_now_ns() - t0));
    } else if (in->kind == LL_INTENT_CANCEL) {
        rc = ll_oms_cancel(e->oms, in->cl_ord_id, now, &s, &r);
    } else {
        e->st.bad_intents++;
        return;
    }
    if (rc == LL_RISK_OK)
        emit_order(e, &s, in->kind == LL_INTENT_NEW ? in->send_ns : 0);
    else if (rc > 0) {
        e->st.rejects++;
        emit_report(e, &r);
    } else
        fail(e, rc);
    take_actions(e);
}

/* One feed message: gap check, book and features, the quote for the OMS, and
 * a snapshot for the strategy (or the C strategy's intents). */
static void on_feed(ll_ts_engine *e, const ll_ts_feed *f, uint64_t now)
{
    e->st.feed++;
    sample(&e->s[LL_TS_S_HOP_FEED], (int64_t)(now - f->send_ns));
    if (f->seq != e->expect_seq) { /* a gap (or a repeat): counted, reported, and we go on from here */
        e->st.gaps++;
        e->st.gap_messages += f->seq > e->expect_seq ? f->seq - e->expect_seq : 0;
    }
    e->expect_seq = f->seq + 1;
    e->last_seq = f->seq;
    const uint8_t *m = f->msg;
    uint32_t len = ll_itch_size(m[0]);
    if (len == 0 || len > sizeof f->msg) {
        e->st.feed_errors++;
        return;
    }
    double row[LL_ML_N_FEATURES];
    ll_book_err berr;
    int rc = ll_ml_engine_apply(e->fe, m, len, row, &berr);
    if (rc < 0) {
        e->st.feed_errors++;
        return;
    }
    uint16_t locate = ll_be16(m + LL_ITCH_OFF_LOCATE);
    if (rc == 0) {
        if (m[0] == 'R') { /* the directory: a symbol we may trade, and its name for OUCH */
            memcpy(e->symbols[locate], m + LL_ITCH_OFF_R_STOCK, 8);
            (void)ll_oms_add_symbol(e->oms, locate);
        }
        return;
    }
    uint64_t best[4] = {0, 0, 0, 0};
    int mask = ll_book_best(e->book, locate, best);
    ll_ts_snapshot snap;
    snap.seq = f->seq;
    snap.send_ns = f->send_ns;
    snap.locate = locate;
    snap.flags = 0;
    snap.bid = mask & 1 ? (uint32_t)best[0] : 0;
    snap.bid_size = mask & 1 ? (uint32_t)best[1] : 0;
    snap.ask = mask & 2 ? (uint32_t)best[2] : 0;
    snap.ask_size = mask & 2 ? (uint32_t)best[3] : 0;
    int finite_all = 1;
    for (int i = 0; i < LL_ML_N_FEATURES; i++) {
        snap.features[i] = row[i];
        finite_all &= isfinite(row[i]) != 0;
    }
    if (finite_all)
        snap.flags |= LL_SNAP_FEATURES_OK;
    (void)ll_oms_on_quote(e->oms, locate, snap.bid, snap.ask, now);
    take_actions(e); /* the mark may have tripped the loss limit */
    if (e->strat != NULL) { /* the C strategy, here and now: tick-to-signal without a hop */
        ll_ts_intent out[2];
        snap.engine_ns = ll_now_ns();
        snap.dropped = 0;
        int n = ll_ts_signal_on_features(e->strat, &snap, out);
        uint64_t t = ll_now_ns();
        for (int i = 0; i < n; i++) {
            out[i].seq = snap.seq;
            out[i].send_ns = snap.send_ns;
            out[i].recv_ns = snap.engine_ns;
            out[i].sent_ns = t;
            on_intent(e, &out[i], t);
        }
        if (fifo_len(&e->q_orders) > 0)
            flush(e); /* an order leaves now, not after the rest of this batch of feed messages */
        return;
    }
    if (e->phase != PHASE_RUN)
        return;
    snap.dropped = e->dropped_since;
    snap.engine_ns = ll_now_ns();
    sample(&e->s[LL_TS_S_ENGINE], (int64_t)(snap.engine_ns - now));
    /* Ring A never makes the engine wait: a full ring means the strategy is
     * behind, and a snapshot it would read late is worth less than the feed
     * kept flowing.  Dropped, counted, and the next snapshot says how many. */
    if (ll_seqring_push(e->snap, &snap, sizeof snap) == 1) {
        e->st.snaps++;
        e->dropped_since = 0;
        bell_ring(&e->ctl->bell);
    } else {
        e->st.dropped++;
        e->dropped_since++;
    }
}

/* One reply from the exchange. */
static void on_reply(ll_ts_engine *e, const ll_ts_wire *w, uint64_t now)
{
    ll_ouch_msg m;
    ll_ts_report r;
    if (ll_ouch_decode(w->msg, w->len, LL_OUCH_OUTBOUND, &m) < 0) {
        e->st.reply_errors++;
        return;
    }
    sample(&e->s[LL_TS_S_HOP_REPLY], (int64_t)(now - w->sent_ns));
    int rc;
    uint32_t price = 0;
    switch (m.type) {
    case 'A':
        rc = ll_oms_on_accepted(e->oms, m.user_ref, m.order_ref, now, &r);
        break;
    case 'E':
        (void)ll_ouch_price_u32(m.price, &price);
        rc = ll_oms_on_executed(e->oms, m.user_ref, m.qty, price, m.match, m.liquidity, now, &r);
        break;
    case 'C':
        rc = ll_oms_on_canceled(e->oms, m.user_ref, m.qty, (uint8_t)m.reason, now, &r);
        break;
    case 'J': /* a refused cancel arrives as a reject of that order */
        if (m.reason == LL_OUCH_REJ_CANCEL_NOT_ALLOWED) {
            /* The race every order manager meets: our cancel crossed the
             * fill that closed the order, and the exchange had nothing left
             * to cancel.  The OMS already knows the order is over (the fill
             * came first, in order, on this same ring): counted, not an error. */
            ll_oms_order_rec rec;
            if (ll_oms_order(e->oms, m.user_ref, &rec) == 1 &&
                (rec.state == LL_OMS_FILLED || rec.state == LL_OMS_CANCELED)) {
                e->st.cancel_races++;
                return;
            }
            rc = ll_oms_on_cancel_rejected(e->oms, m.user_ref, now, &r);
        } else
            rc = ll_oms_on_rejected(e->oms, m.user_ref, m.reason, now, &r);
        break;
    default: /* S: the exchange's day; U: we never replace */
        return;
    }
    if (rc == 0)
        emit_report(e, &r);
    else if (rc > 0)
        e->st.illegal++;
    else
        fail(e, rc);
    take_actions(e);
}

/* Push what waits in the backlogs while the rings take it. */
static void flush(ll_ts_engine *e)
{
    int sent = 0;
    while (fifo_len(&e->q_orders) > 0 && !e->halted_exchange) {
        ll_ts_wire *w = fifo_peek(&e->q_orders);
        w->sent_ns = ll_now_ns();
        if (ll_seqring_push(e->orders, w, sizeof *w) != 1)
            break;
        e->q_orders.tail++;
        sent = 1;
    }
    if (sent)
        bell_ring(&e->ctl->xbell); /* the exchange may be asleep until its next send time */
    int pushed = 0;
    while (fifo_len(&e->q_reports) > 0 && !e->strategy_gone) {
        if (ll_seqring_push(e->report, fifo_peek(&e->q_reports), sizeof(ll_ts_report)) != 1)
            break;
        e->q_reports.tail++;
        pushed = 1;
    }
    if (pushed)
        bell_ring(&e->ctl->bell);
}

static void publish(ll_ts_engine *e, uint64_t now)
{
    cnt(e, LL_CNT_FEED, e->st.feed);
    cnt(e, LL_CNT_SNAPS, e->st.snaps);
    cnt(e, LL_CNT_DROPPED, e->st.dropped);
    cnt(e, LL_CNT_INTENTS, e->st.intents);
    cnt(e, LL_CNT_ORDERS, e->st.orders);
    cnt(e, LL_CNT_FILLS, e->st.fills);
    cnt(e, LL_CNT_REJECTS, e->st.rejects);
    cnt(e, LL_CNT_GAPS, e->st.gaps);
    cnt(e, LL_CNT_BACKLOG, fifo_len(&e->q_orders) + fifo_len(&e->q_reports));
    cnt(e, LL_CNT_HALTED, (uint64_t)ll_oms_halted(e->oms));
    cnt(e, LL_CNT_LAST_SEQ, e->last_seq);
    cnt(e, LL_CNT_EXCHANGE_LOST, e->st.exchange_lost);
    atomic_store_explicit(&e->me->heartbeat_ns, now, memory_order_relaxed);
    ll_oms_position_rec p[LL_TS_MAX_SYMBOLS];
    int64_t n = ll_oms_positions(e->oms, p, LL_TS_MAX_SYMBOLS);
    for (int64_t i = 0; i < n; i++) {
        ll_ts_position *row = &e->ctl->positions[i];
        atomic_store_explicit(&row->locate, p[i].locate, memory_order_relaxed);
        atomic_store_explicit(&row->position, p[i].position, memory_order_relaxed);
        atomic_store_explicit(&row->realized, p[i].realized, memory_order_relaxed);
        atomic_store_explicit(&row->unrealized, p[i].unrealized, memory_order_relaxed);
    }
}

/* Cancel every open order (the end of the session): the open ones not already
 * on their way out. */
static void cancel_all(ll_ts_engine *e, uint64_t now)
{
    ll_oms_order_rec rec[256];
    uint64_t from = 0;
    int64_t n;
    while ((n = ll_oms_orders(e->oms, from, rec, 256)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            uint8_t st = rec[i].state;
            if (st == LL_OMS_PENDING_NEW || st == LL_OMS_ACCEPTED || st == LL_OMS_PARTIALLY_FILLED) {
                ll_oms_send s;
                ll_ts_report r;
                if (ll_oms_cancel(e->oms, rec[i].cl_ord_id, now, &s, &r) == LL_RISK_OK)
                    emit_order(e, &s, 0);
            }
        }
        from += (uint64_t)n;
    }
}

/* The liveness checks, every ~100 us: the strategy (died: its role's lock is
 * gone; lapsed: no word for heartbeat_timeout), the exchange, the operator. */
static void watch(ll_ts_engine *e, uint64_t now)
{
    if (atomic_load_explicit(&e->ctl->kill, memory_order_acquire)) /* pairs with the supervisor's release store */
        halt(e, LL_RISK_KILL_MANUAL);
    if (e->strat == NULL && !e->strategy_gone && e->strategy_seen_ns != 0 && !e->bye) {
        int died = ll_ring_peer_state(e->intent) == LL_EPEERDEAD;
        int lapsed = now - e->strategy_seen_ns > e->cfg.heartbeat_timeout_ns;
        if (died || lapsed) {
            /* cancel-on-disconnect: nobody is watching these orders any more */
            e->strategy_gone = 1;
            e->st.strategy_lost++;
            e->st.lost_by_death += died;
            halt(e, LL_RISK_HEARTBEAT);
        }
    }
    if (!e->halted_exchange && (ll_ring_peer_state(e->orders) == LL_EPEERDEAD ||
                                ll_ring_peer_state(e->replies) == LL_EPEERDEAD)) {
        e->halted_exchange = 1; /* nothing can reach it: halt, say why, and wind down */
        e->st.exchange_lost = 1;
        halt(e, LL_RISK_KILL_MANUAL);
    }
}

LL_EXPORT int ll_ts_engine_run(ll_ts_engine *e, ll_ring *feed, ll_ring *snap, ll_ring *intent, ll_ring *report,
                               ll_ring *orders, ll_ring *replies, ll_ts_control *ctl)
{
    if (e == NULL || feed == NULL || orders == NULL || replies == NULL || ctl == NULL ||
        (e->strat == NULL && (snap == NULL || intent == NULL || report == NULL)))
        return LL_EINVAL;
    e->feed = feed, e->snap = snap, e->intent = intent, e->report = report, e->orders = orders,
    e->replies = replies, e->ctl = ctl;
    e->me = &ctl->procs[LL_TS_ENGINE];
    atomic_store_explicit(&e->me->state, LL_PROC_RUNNING, memory_order_relaxed);
    uint64_t now = ll_now_ns(), next_watch = now;
    int feed_open = 1;
    union {
        ll_ts_feed f;
        ll_ts_intent i;
        ll_ts_wire w;
    } buf;
    while (e->phase != PHASE_DONE) {
        int idle = 1;
        /* 1. the feed: up to 64 messages before looking at anything else */
        for (int k = 0; k < 64 && feed_open; k++) {
            int rc = ll_seqring_pop(feed, &buf.f);
            if (rc != 1)
                break;
            idle = 0;
            on_feed(e, &buf.f, ll_now_ns());
        }
        /* 2. the exchange's replies */
        for (int k = 0; k < 64; k++) {
            if (ll_seqring_pop(replies, &buf.w) != 1)
                break;
            idle = 0;
            on_reply(e, &buf.w, ll_now_ns());
        }
        /* 3. the strategy's intents */
        if (e->strat == NULL) {
            for (int k = 0; k < 64; k++) {
                if (ll_seqring_pop(intent, &buf.i) != 1)
                    break;
                idle = 0;
                uint64_t t = ll_now_ns();
                if (e->strategy_gone) { /* a new strategy speaks: it gets its reports again, and may trade */
                    e->strategy_gone = 0;
                    e->st.strategy_back++;
                    e->st.resumed += ll_oms_resume(e->oms) == 1;
                }
                on_intent(e, &buf.i, t);
                if (fifo_len(&e->q_orders) > 0)
                    flush(e); /* the order leaves at once */
            }
        }
        flush(e);
        now = ll_now_ns();
        if (now >= next_watch) {
            next_watch = now + 100000;
            watch(e, now);
            publish(e, now);
            if (atomic_load_explicit(&ctl->stop, memory_order_acquire)) /* the supervisor's word: stop now */
                break;
            if (feed_open && idle && ll_ring_peer_state(feed) != LL_OK) { /* closed and drained, or the exchange died */
                feed_open = 0;
                if (e->strat == NULL) {
                    (void)ll_ring_finish(snap); /* the strategy drains ring A, says bye */
                    bell_ring(&ctl->bell);       /* (it may be asleep) */
                }
                e->phase = PHASE_END_STRATEGY;
                e->phase_ns = now;
            }
            if (e->phase == PHASE_END_STRATEGY &&
                (e->strat != NULL || e->bye || e->strategy_gone || now - e->phase_ns > e->cfg.end_timeout_ns)) {
                cancel_all(e, now); /* the end of the session: nothing stays open */
                e->phase = PHASE_DRAIN;
                e->phase_ns = now;
            }
            if (e->phase == PHASE_DRAIN &&
                ((ll_oms_open_orders(e->oms) == 0 && fifo_len(&e->q_orders) == 0 &&
                  (e->strategy_gone || fifo_len(&e->q_reports) == 0)) ||
                 e->halted_exchange || now - e->phase_ns > e->cfg.end_timeout_ns)) {
                if (ll_oms_open_orders(e->oms) != 0)
                    e->st.left_open = ll_oms_open_orders(e->oms);
                flush(e);
                (void)ll_ring_finish(orders); /* the exchange's session is over */
                if (report != NULL) {
                    (void)ll_ring_finish(report); /* and the strategy's: it drains ring C and exits */
                    bell_ring(&ctl->bell);
                }
                e->phase = PHASE_DONE;
            }
        }
        if (idle) {
            if (e->cfg.yield_when_idle)
                sched_yield(); /* a core shared with the exchange: let it run the moment it wakes */
            else
                ll_cpu_relax();
        }
    }
    publish(e, ll_now_ns());
    atomic_store_explicit(&e->me->state, LL_PROC_DONE, memory_order_relaxed);
    return e->err ? (int)e->err : LL_OK;
}

LL_EXPORT void ll_ts_engine_get_stats(const ll_ts_engine *e, ll_ts_engine_stats *out)
{
    if (e && out)
        *out = e->st;
}

/* The samples of figure `which` (LL_TS_S_*): how many there are (with out
 * NULL), or how many were copied into out (at most max). */
LL_EXPORT int64_t ll_ts_engine_samples(const ll_ts_engine *e, int which, int64_t *out, uint64_t max)
{
    if (e == NULL || which < 0 || which >= LL_TS_N_SAMPLES)
        return LL_EINVAL;
    return samples_copy(&e->s[which], out, max);
}

/* ------------------------------------------------------------ the exchange process */
struct ll_ts_exchange {
    ll_exch *x;
    ll_ts_exchange_cfg cfg;
    ll_ring *feed, *orders, *replies;
    ll_ts_control *ctl;
    ll_ts_proc *me;
    fifo q_replies;
    uint8_t *out;
    uint64_t out_cap;
    int64_t err;
    ll_ts_exchange_stats st;
    samples s[LL_TS_X_N_SAMPLES];
};

LL_EXPORT void ll_ts_exchange_cfg_default(ll_ts_exchange_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->end_timeout_ns = 5000000000ull;
    c->max_samples = 1u << 20;
    c->backlog = 1u << 16;
}

LL_EXPORT ll_ts_exchange *ll_ts_exchange_create(ll_exch *x, const ll_ts_exchange_cfg *cfg, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (x == NULL || cfg == NULL || !(cfg->rate >= 0.0) || cfg->backlog == 0 || (cfg->backlog & (cfg->backlog - 1)) ||
        cfg->max_samples > (1u << 26)) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_ts_exchange *e = calloc(1, sizeof *e);
    if (e == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    e->x = x;
    e->cfg = *cfg;
    e->out_cap = ll_exch_reply_capacity(x);
    e->out = malloc(e->out_cap);
    int rc = e->out ? fifo_init(&e->q_replies, sizeof(ll_ts_wire), cfg->backlog) : LL_ENORES;
    for (int i = 0; i < LL_TS_X_N_SAMPLES && rc == LL_OK; i++)
        rc = samples_init(&e->s[i], cfg->max_samples);
    if (rc != LL_OK) {
        ll_ts_exchange_destroy(e);
        *err = rc;
        return NULL;
    }
    *err = LL_OK;
    return e;
}

LL_EXPORT void ll_ts_exchange_destroy(ll_ts_exchange *e)
{
    if (e == NULL)
        return;
    free(e->out);
    free(e->q_replies.buf);
    for (int i = 0; i < LL_TS_X_N_SAMPLES; i++)
        free(e->s[i].v);
    free(e);
}

/* The replies one matcher call wrote (concatenated OUCH messages), one wire each, into the backlog. */
static void queue_replies(ll_ts_exchange *e, int64_t n)
{
    if (n < 0) {
        e->st.errors++;
        if (e->err == 0)
            e->err = n;
        return;
    }
    for (int64_t off = 0; off < n;) {
        uint32_t size = ll_ouch_out_size(e->out[off]);
        if (size == 0 || off + size > n) { /* cannot happen: the matcher writes whole messages */
            e->st.errors++;
            return;
        }
        ll_ts_wire *w = fifo_put(&e->q_replies);
        if (w == NULL) {
            e->st.backlog_full++;
            if (e->err == 0)
                e->err = LL_ENORES;
            return;
        }
        memcpy(w->msg, e->out + off, size);
        w->len = (uint16_t)size;
        w->tick_ns = 0;
        e->st.replies++;
        off += size;
    }
}

/* Take the orders that arrived, answer them, and push what waits: 1 if there was anything to do. */
static int serve(ll_ts_exchange *e)
{
    int busy = 0;
    ll_ts_wire w;
    for (int k = 0; k < 64 && e->orders != NULL; k++) {
        if (ll_seqring_pop(e->orders, &w) != 1)
            break;
        busy = 1;
        uint64_t now = ll_now_ns();
        e->st.orders++;
        sample(&e->s[LL_TS_X_HOP_ORDER], (int64_t)(now - w.sent_ns));
        if (w.len > 0 && w.msg[0] == 'O' && w.tick_ns != 0)
            sample(&e->s[LL_TS_X_TICK_TO_ORDER], (int64_t)(now - w.tick_ns));
        queue_replies(e, ll_exch_on_order(e->x, w.msg, w.len, now, e->out, e->out_cap));
    }
    while (fifo_len(&e->q_replies) > 0) {
        ll_ts_wire *r = fifo_peek(&e->q_replies);
        r->sent_ns = ll_now_ns();
        if (ll_seqring_push(e->replies, r, sizeof *r) != 1)
            break;
        e->q_replies.tail++;
        busy = 1;
    }
    return busy;
}

static void x_publish(ll_ts_exchange *e, uint64_t now)
{
    atomic_store_explicit(&e->me->counters[LL_CNT_FEED], e->st.published, memory_order_relaxed);
    atomic_store_explicit(&e->me->counters[LL_CNT_ORDERS], e->st.orders, memory_order_relaxed);
    atomic_store_explicit(&e->me->counters[LL_CNT_FILLS], (uint64_t)ll_exch_stat(e->x, "fills"), memory_order_relaxed);
    atomic_store_explicit(&e->me->counters[LL_CNT_REJECTS], (uint64_t)ll_exch_stat(e->x, "rejects"),
                          memory_order_relaxed);
    atomic_store_explicit(&e->me->counters[LL_CNT_FULL_WAITS], e->st.full_waits, memory_order_relaxed);
    atomic_store_explicit(&e->me->heartbeat_ns, now, memory_order_relaxed);
}

/* Nothing to do for `gap` ns (until the next send time).  A long gap is slept
 * on the exchange's doorbell, which the engine rings when it sends an order:
 * the core goes to the strategy that shares it, and an order still wakes us at
 * once.  A short one is yielded (a futex sleep costs a few us to wake from). */
static void x_wait(ll_ts_exchange *e, uint64_t gap)
{
    if (e->cfg.wait == LL_TS_XWAIT_SPIN) {
        ll_cpu_relax();
        return;
    }
    if (e->cfg.wait == LL_TS_XWAIT_YIELD || gap < 40000) {
        sched_yield();
        return;
    }
    ll_ts_bell *b = &e->ctl->xbell;
    uint32_t seq = ll_ts_bell_prepare(b);
    if (ll_ring_size(e->orders) > 0) { /* S2: an order came in meanwhile */
        ll_ts_bell_cancel(b);
        return;
    }
    (void)ll_ts_bell_wait(b, seq, gap - 20000); /* wake 20 us early: the rest is polled */
}

/* 1 when the run must end early: the supervisor said stop, or the engine died. */
static int x_interrupted(ll_ts_exchange *e)
{
    if (atomic_load_explicit(&e->ctl->stop, memory_order_acquire))
        return 1;
    if (ll_ring_peer_state(e->feed) == LL_EPEERDEAD) {
        e->st.engine_lost = 1;
        return 1;
    }
    return 0;
}

LL_EXPORT int ll_ts_exchange_run(ll_ts_exchange *e, const uint8_t *buf, uint64_t len, ll_ring *feed,
                                 ll_ring *orders, ll_ring *replies, ll_ts_control *ctl)
{
    if (e == NULL || (buf == NULL && len > 0) || feed == NULL || orders == NULL || replies == NULL || ctl == NULL)
        return LL_EINVAL;
    e->feed = feed, e->orders = orders, e->replies = replies, e->ctl = ctl;
    e->me = &ctl->procs[LL_TS_EXCHANGE];
    atomic_store_explicit(&e->me->state, LL_PROC_RUNNING, memory_order_relaxed);
    /* timer slack 1 ns: a sleep until the next send time ends when asked, not
     * up to 50 us later (the default slack of a normal thread) */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    double period = e->cfg.rate > 0 ? 1e9 / e->cfg.rate : 0.0;
    uint64_t t0 = ll_now_ns(), next_watch = t0, seq = 1;
    int stopped = 0;
    ll_ts_feed f;
    for (uint64_t off = 0; off < len && !stopped; seq++) {
        if (len - off < 2)
            return LL_ETRUNCATED;
        uint32_t n = ll_be16(buf + off);
        const uint8_t *msg = buf + off + 2;
        if (n == 0 || n > sizeof f.msg || len - off - 2 < n)
            return n == 0 || n > sizeof f.msg ? LL_EBADFRAME : LL_ETRUNCATED;
        uint64_t target = t0 + (uint64_t)((double)(seq - 1) * period);
        uint64_t now;
        /* paced: the next message's send time.  Meanwhile the orders are
         * served, and the core is yielded to the strategy that shares it. */
        while ((now = ll_now_ns()) < target) {
            if (serve(e))
                continue;
            x_wait(e, target - now);
        }
        f.seq = seq;
        memset(f.msg, 0, sizeof f.msg);
        memcpy(f.msg, msg, n);
        f.send_ns = ll_now_ns();
        if (period > 0) {
            uint64_t late = f.send_ns > target ? f.send_ns - target : 0;
            sample(&e->s[LL_TS_X_LATE], (int64_t)late);
            /* Late (the core was busy): overdue messages go out back to back, but
             * at most LL_TS_X_CATCH_UP periods' worth; beyond that the schedule
             * moves on.  Unbounded catch-up bursts are an artefact of the
             * simulator's scheduling, not of the market, and their queueing
             * would land in every latency behind them; no catch-up at all would
             * turn each late wake-up (a scheduler slice, ~4 ms, when the core is
             * busy) into a permanent loss of rate. */
            double allowed = LL_TS_X_CATCH_UP * period;
            if ((double)late > allowed)
                t0 += (uint64_t)((double)late - allowed);
        }
        while (ll_seqring_push(feed, &f, sizeof f) != 1) { /* the engine is behind: wait, never drop */
            e->st.full_waits++;
            if (!serve(e))
                x_wait(e, 0);
            if (x_interrupted(e)) {
                stopped = 1;
                break;
            }
            f.send_ns = ll_now_ns(); /* it leaves now: the wait is the exchange's, not the system's latency */
        }
        if (stopped)
            break;
        e->st.published++;
        if (e->cfg.gap_every && seq % e->cfg.gap_every == 0) {
            seq++; /* the fault: a sequence number that never goes out (a lost packet, to the engine) */
            e->st.gaps_made++;
        }
        queue_replies(e, ll_exch_on_feed(e->x, msg, n, e->out, e->out_cap));
        serve(e);
        off += 2 + n;
        now = ll_now_ns();
        if (now >= next_watch) {
            next_watch = now + 100000;
            x_publish(e, now);
            stopped = x_interrupted(e);
        }
    }
    (void)ll_ring_finish(feed); /* the end of the feed: the engine winds the session down */
    /* Serve until the engine closes its orders ring (its session is over), the
     * supervisor says stop, or the engine died. */
    uint64_t start = ll_now_ns();
    for (;;) {
        int busy = serve(e);
        uint64_t now = ll_now_ns();
        if (now >= next_watch) {
            next_watch = now + 100000;
            x_publish(e, now);
            int st = ll_ring_peer_state(orders);
            if (st == LL_ECLOSED || st == LL_EPEERDEAD || atomic_load_explicit(&ctl->stop, memory_order_acquire)) {
                e->st.engine_lost |= st == LL_EPEERDEAD;
                break;
            }
            if (now - start > e->cfg.end_timeout_ns) {
                e->st.timed_out = 1;
                break;
            }
        }
        if (!busy)
            x_wait(e, 0);
    }
    while (fifo_len(&e->q_replies) > 0 && serve(e)) /* the last replies, while the engine takes them */
        ;
    x_publish(e, ll_now_ns());
    atomic_store_explicit(&e->me->state, LL_PROC_DONE, memory_order_relaxed);
    return e->err ? (int)e->err : LL_OK;
}

LL_EXPORT void ll_ts_exchange_get_stats(const ll_ts_exchange *e, ll_ts_exchange_stats *out)
{
    if (e && out)
        *out = e->st;
}

LL_EXPORT int64_t ll_ts_exchange_samples(const ll_ts_exchange *e, int which, int64_t *out, uint64_t max)
{
    if (e == NULL || which < 0 || which >= LL_TS_X_N_SAMPLES)
        return LL_EINVAL;
    return samples_copy(&e->s[which], out, max);
}

LL_EXPORT int64_t ll_ts_layout_info(const char *what)
{
    static const struct { const char *name; int64_t value; } facts[] = {
#define SZ(t) {"sizeof " #t, (int64_t)sizeof(t)}
#define OFF(t, f) {"offsetof " #t "." #f, (int64_t)offsetof(t, f)}
        SZ(ll_ts_feed), OFF(ll_ts_feed, seq), OFF(ll_ts_feed, send_ns), OFF(ll_ts_feed, msg),
        SZ(ll_ts_snapshot), OFF(ll_ts_snapshot, seq), OFF(ll_ts_snapshot, send_ns), OFF(ll_ts_snapshot, engine_ns),
        OFF(ll_ts_snapshot, locate), OFF(ll_ts_snapshot, flags), OFF(ll_ts_snapshot, dropped),
        OFF(ll_ts_snapshot, bid), OFF(ll_ts_snapshot, ask), OFF(ll_ts_snapshot, bid_size),
        OFF(ll_ts_snapshot, ask_size), OFF(ll_ts_snapshot, features),
        SZ(ll_ts_intent), OFF(ll_ts_intent, kind), OFF(ll_ts_intent, side), OFF(ll_ts_intent, locate),
        OFF(ll_ts_intent, cl_ord_id), OFF(ll_ts_intent, price), OFF(ll_ts_intent, qty), OFF(ll_ts_intent, seq),
        OFF(ll_ts_intent, send_ns), OFF(ll_ts_intent, recv_ns), OFF(ll_ts_intent, sent_ns),
        OFF(ll_ts_intent, signal_ppm),
        SZ(ll_ts_report), OFF(ll_ts_report, kind), OFF(ll_ts_report, side), OFF(ll_ts_report, locate),
        OFF(ll_ts_report, cl_ord_id), OFF(ll_ts_report, price), OFF(ll_ts_report, qty), OFF(ll_ts_report, leaves),
        OFF(ll_ts_report, reason), OFF(ll_ts_report, position), OFF(ll_ts_report, ns),
        SZ(ll_ts_wire), OFF(ll_ts_wire, sent_ns), OFF(ll_ts_wire, tick_ns), OFF(ll_ts_wire, len), OFF(ll_ts_wire, msg),
        SZ(ll_ts_control), OFF(ll_ts_control, magic), OFF(ll_ts_control, version), OFF(ll_ts_control, stop),
        OFF(ll_ts_control, kill), OFF(ll_ts_control, procs), OFF(ll_ts_control, bell), OFF(ll_ts_control, xbell),
        OFF(ll_ts_control, positions),
        SZ(ll_ts_proc), OFF(ll_ts_proc, pid), OFF(ll_ts_proc, state), OFF(ll_ts_proc, heartbeat_ns),
        OFF(ll_ts_proc, counters), SZ(ll_ts_position), SZ(ll_ts_signal_params), SZ(ll_ts_engine_cfg),
        SZ(ll_ts_engine_stats), SZ(ll_ts_exchange_cfg), SZ(ll_ts_exchange_stats),
        {"control_magic", (int64_t)LL_TS_CONTROL_MAGIC}, {"control_version", LL_TS_CONTROL_VERSION},
        {"kind_control", LL_KIND_CONTROL}, {"n_counters", LL_CNT_N}, {"max_symbols", LL_TS_MAX_SYMBOLS},
        {"engine_samples", LL_TS_N_SAMPLES}, {"exchange_samples", LL_TS_X_N_SAMPLES},
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
