/* Evaluation metrics: log loss, exact AUC, accuracy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/probe.h"
#include "sigeo/train.h"

typedef struct scored {
    float score;
    float label;
} scored_t;

static int by_score(const void *a, const void *b)
{
    float x = ((const scored_t *)a)->score, y = ((const scored_t *)b)->score;
    return (x > y) - (x < y);
}

/* Mann-Whitney: AUC = (sum of positive ranks - P(P+1)/2) / (P N), ties
 * sharing their average rank (so a tie counts 1/2). */
static sigeo_status_t auc_sorted(double *out, scored_t *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, by_score);
    double rank_sum = 0.0, pos = 0.0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].score == v[i].score)
            j++;
        double avg_rank = (double)(i + 1 + j) / 2.0; /* ranks i+1 .. j */
        for (int64_t k = i; k < j; k++) {
            rank_sum += v[k].label * avg_rank;
            pos += v[k].label;
        }
        i = j;
    }
    double neg = (double)n - pos;
    if (pos == 0.0 || neg == 0.0)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_auc: %s (AUC needs both classes)",
                           pos == 0.0 ? "no positive label" : "no negative label");
    *out = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg);
    return SIGEO_OK;
}

SIGEO_API sigeo_status_t sigeo_auc(double *auc_out, const float *scores, const float *labels, int64_t n)
{
    if (auc_out)
        *auc_out = NAN; /* train.h: the value on failure */
    if (!auc_out || !scores || !labels)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_auc: %s is NULL", !auc_out ? "auc_out" : !scores ? "scores" : "labels");
    if (n < 2)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "sigeo_auc: %lld scores (need >= 2)", (long long)n);
    scored_t *v = sigeo__alloc((size_t)n * sizeof *v);
    if (!v)
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "sigeo_auc: out of memory for %lld scores", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(scores[i]) || !(labels[i] == 0.0f || labels[i] == 1.0f)) {
            sigeo__free(v);
            return sigeo__fail(isfinite(scores[i]) ? SIGEO_ERR_INVALID_ARG : SIGEO_ERR_NONFINITE,
                               "sigeo_auc: element %lld: score %g, label %g (labels must be 0 or 1)", (long long)i,
                               (double)scores[i], (double)labels[i]);
        }
        v[i].score = scores[i];
        v[i].label = labels[i];
    }
    sigeo_status_t st = auc_sorted(auc_out, v, n);
    sigeo__free(v);
    return st;
}

SIGEO_API sigeo_status_t sigeo_evaluate(double *logloss_out, double *auc_out, double *accuracy_out,
                                        sigeo_model_t *model, sigeo_dataset_t *data, int64_t batch_size)
{
    static const char fn[] = "sigeo_evaluate";
    /* train.h: every requested output is NaN unless the call succeeds. */
    double *const outs[3] = { logloss_out, auc_out, accuracy_out };
    for (int i = 0; i < 3; i++)
        if (outs[i])
            *outs[i] = NAN;
    if (!model || !data)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: %s is NULL", fn, model ? "data" : "model");
    if (batch_size < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: batch_size %lld", fn, (long long)batch_size);
    sigeo_dataset_info_t info = SIGEO_DATASET_INFO_INIT;
    sigeo_status_t st = sigeo_dataset_get_info(&info, data);
    if (st != SIGEO_OK)
        return st;
    if (info.n_rows < 1)
        return sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: the dataset is empty", fn);
    int64_t nb;
    if ((st = sigeo_dataset_batch_count(&nb, data, batch_size, SIGEO_BATCH_KEEP_LAST)) != SIGEO_OK)
        return st;
    scored_t *v = NULL;
    const bool want_auc = auc_out != NULL;
    if (want_auc && !(v = sigeo__alloc((size_t)info.n_rows * sizeof *v)))
        return sigeo__fail(SIGEO_ERR_NO_MEMORY, "%s: out of memory", fn);
    double loss_sum = 0.0, correct = 0.0;
    int64_t seen = 0;
    for (int64_t b = 0; b < nb && st == SIGEO_OK; b++) {
        sigeo_batch_t batch = SIGEO_BATCH_INIT;
        if ((st = sigeo_dataset_batch(&batch, data, b, batch_size, SIGEO_BATCH_KEEP_LAST)) != SIGEO_OK)
            break;
        double l;
        if ((st = sigeo_model_forward(&l, model, &batch)) != SIGEO_OK)
            break;
        loss_sum += l * (double)batch.batch_size;
        const float *out;
        int64_t rows, width;
        int32_t kind;
        sigeo__probe_loss_output(&out, &rows, &width, &kind, model);
        if (want_auc && kind != SIGEO_LOSS_BCE_WITH_LOGITS) {
            st = sigeo__fail(SIGEO_ERR_INVALID_ARG, "%s: AUC needs a binary model (BCE with logits)", fn);
            break;
        }
        for (int64_t r = 0; r < rows; r++) {
            const float *z = out + r * width;
            if (kind == SIGEO_LOSS_SOFTMAX_CE) {
                int64_t best = 0;
                for (int64_t c = 1; c < width; c++)
                    if (z[c] > z[best])
                        best = c;
                correct += best == batch.labels[r];
            } else {
                float t = batch.targets[r * batch.n_targets];
                correct += (z[0] > 0.0f) == (t > 0.5f);
                if (want_auc) {
                    v[seen + r].score = z[0]; /* the logit ranks like the probability */
                    v[seen + r].label = t;
                }
            }
        }
        seen += rows;
    }
    if (st == SIGEO_OK) {
        if (logloss_out)
            *logloss_out = loss_sum / (double)seen;
        if (accuracy_out)
            *accuracy_out = correct / (double)seen;
        if (want_auc)
            st = auc_sorted(auc_out, v, seen);
    }
    sigeo__free(v);
    if (st != SIGEO_OK)
        for (int i = 0; i < 3; i++)
            if (outs[i])
                *outs[i] = NAN;
    return st;
}
