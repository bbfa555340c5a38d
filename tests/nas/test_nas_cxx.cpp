// The pipeline driven from C++ through the public headers only, as a C++ NAS
// framework would: RAII owners for the handles, a lambda-backed progress
// callback that cancels, a one-shot scorer plugged into the pipeline, and
// the result checked against itself (selection by validation, evaluation
// count = budget). Exit status 0 = pass; each failure prints one line.
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <vector>

#include "sigeo/io.h"
#include "sigeo/nas.h"

namespace {

int failures = 0;

void expect(bool ok, const char *what)
{
    if (!ok) {
        std::printf("FAIL: %s (last error: %s)\n", what, sigeo_last_error());
        failures++;
    }
}

struct ContextDeleter {
    void operator()(sigeo_context_t *c) const { sigeo_context_destroy(c); }
};
struct DatasetDeleter {
    void operator()(sigeo_dataset_t *d) const { sigeo_dataset_destroy(d); }
};
struct ResultDeleter {
    void operator()(sigeo_nas_result_t *r) const { sigeo_nas_result_destroy(r); }
};
using Context = std::unique_ptr<sigeo_context_t, ContextDeleter>;
using Dataset = std::unique_ptr<sigeo_dataset_t, DatasetDeleter>;
using Result = std::unique_ptr<sigeo_nas_result_t, ResultDeleter>;

// The host's progress handler, a std::function behind the C callback.
using Progress = std::function<bool(const sigeo_nas_progress_t &)>;
int progress_trampoline(const sigeo_nas_progress_t *p, void *user)
{
    return (*static_cast<Progress *>(user))(*p) ? 1 : 0;
}

Result run(sigeo_context_t *ctx, sigeo_dataset_t *tr, sigeo_dataset_t *va, sigeo_dataset_t *te, int scorer,
           Progress *progress, sigeo_status_t *status)
{
    sigeo_search_options_t so = SIGEO_SEARCH_OPTIONS_INIT;
    so.population = 4;
    so.sample_size = 2;
    so.children = 2;
    so.cycles = 2;
    so.max_evaluations = 7;
    sigeo_one_shot_options_t os = SIGEO_ONE_SHOT_OPTIONS_INIT;
    os.finetune_steps = 3;
    os.finetune_batch = 32;
    sigeo_nas_options_t o = SIGEO_NAS_OPTIONS_INIT;
    o.scorer = scorer;
    o.batch_size = 32;
    o.warmup_fraction = 0.1;
    o.search = &so;
    o.one_shot = &os;
    o.k = 2;
    o.top_k = 2;
    o.retrain_epochs = 0.1;
    if (progress) {
        o.progress = progress_trampoline;
        o.progress_user = progress;
        o.progress_every = 1;
    }
    sigeo_space_options_t sp = SIGEO_SPACE_OPTIONS_INIT;
    sp.preset = SIGEO_SPACE_TINY;
    sigeo_nas_result_t *r = nullptr;
    *status = sigeo_nas_run_space(&r, ctx, "nasrec-small", &sp, tr, va, te, &o);
    return Result(r);
}

} // namespace

int main()
{
    sigeo_context_options_t co = SIGEO_CONTEXT_OPTIONS_INIT;
    co.seed = 11;
    co.threads = 1;
    sigeo_context_t *raw_ctx = nullptr;
    expect(sigeo_context_create(&raw_ctx, &co) == SIGEO_OK, "context");
    Context ctx(raw_ctx);
    sigeo_synth_options_t syn = SIGEO_SYNTH_OPTIONS_INIT;
    syn.seed = 4;
    syn.n_rows = 1500;
    sigeo_dataset_t *all = nullptr, *tr = nullptr, *va = nullptr, *te = nullptr;
    expect(sigeo_synth_generate(&all, nullptr, &syn, nullptr) == SIGEO_OK, "synthetic data");
    expect(sigeo_dataset_split(&tr, &va, &te, all, nullptr) == SIGEO_OK, "split");
    Dataset d_all(all), d_tr(tr), d_va(va), d_te(te);
    if (failures)
        return 1;

    for (int scorer : { static_cast<int>(SIGEO_NAS_SCORE_PROXY), static_cast<int>(SIGEO_NAS_SCORE_ONE_SHOT) }) {
        std::vector<int> phases;
        Progress watch = [&phases](const sigeo_nas_progress_t &p) {
            if (phases.empty() || phases.back() != p.phase)
                phases.push_back(p.phase);
            return false;
        };
        sigeo_status_t st;
        Result r = run(ctx.get(), tr, va, te, scorer, &watch, &st);
        expect(st == SIGEO_OK && r, "the pipeline runs");
        if (!r)
            continue;
        expect(phases == std::vector<int>({ SIGEO_NAS_PHASE_WARMUP, SIGEO_NAS_PHASE_SEARCH,
                                            SIGEO_NAS_PHASE_RETRAIN }),
               "progress reports the three phases in order");
        sigeo_nas_summary_t s = SIGEO_NAS_SUMMARY_INIT;
        expect(sigeo_nas_result_get_summary(&s, r.get()) == SIGEO_OK, "summary");
        expect(s.evaluations == 7 && sigeo_nas_result_evaluation_count(r.get()) == 7, "evaluations = budget");
        expect(s.top_n == 2, "two candidates");
        std::vector<int32_t> best(static_cast<size_t>(s.n_arch)), cand(static_cast<size_t>(s.n_arch));
        expect(sigeo_nas_result_best_arch(best.data(), s.n_arch, r.get()) == SIGEO_OK, "best arch");
        double lowest = INFINITY;
        std::vector<int32_t> lowest_arch;
        for (int32_t i = 0; i < s.top_n; i++) {
            sigeo_nas_candidate_t c = SIGEO_NAS_CANDIDATE_INIT;
            expect(sigeo_nas_result_candidate(&c, cand.data(), s.n_arch, r.get(), i) == SIGEO_OK, "candidate");
            if (c.status == SIGEO_OK && c.val_logloss < lowest) {
                lowest = c.val_logloss;
                lowest_arch = cand;
            }
        }
        expect(best == lowest_arch && s.val_logloss == lowest, "best = lowest validation log loss");
        expect(s.test_auc > 0.0 && s.test_auc < 1.0, "test AUC in (0, 1)");
        for (uint64_t i = 0; i < s.evaluations; i++) {
            sigeo_evaluation_t e = SIGEO_EVALUATION_INIT;
            expect(sigeo_nas_result_evaluation(&e, r.get(), i) == SIGEO_OK && e.index == i &&
                       std::isfinite(e.score) && (e.proxy != nullptr) == (scorer == SIGEO_NAS_SCORE_PROXY),
                   "evaluation record");
        }
    }

    // Cancelling from the lambda in the search phase.
    Progress stop = [](const sigeo_nas_progress_t &p) { return p.phase == SIGEO_NAS_PHASE_SEARCH && p.step >= 2; };
    sigeo_status_t st;
    Result r = run(ctx.get(), tr, va, te, SIGEO_NAS_SCORE_PROXY, &stop, &st);
    expect(st == SIGEO_ERR_CANCELLED && !r, "cancel returns SIGEO_ERR_CANCELLED and no result");

    std::printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
