package sigeo_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"libsigeo.example/sigeo"
)

type lcg uint64

func (r *lcg) next() float64 {
	*r = lcg(uint64(*r)*6364136223846793005 + 1442695040888963407)
	return float64(uint64(*r)>>11)/float64(uint64(1)<<53) - 0.5
}

// reference computes zico and fr in float64 from the same data, independently of the library.
func reference(g [][][]float32, d [][]float64) (zico, fr float64) {
	k := float64(len(g))
	for m := range g[0] {
		sum := 0.0
		for j := range g[0][m] {
			mean, mu := 0.0, 0.0
			for b := range g {
				mean += float64(g[b][m][j]) / k
				mu += math.Abs(float64(g[b][m][j])) / k
			}
			v := 0.0
			for b := range g {
				x := float64(g[b][m][j]) - mean
				v += x * x / k
			}
			if v != 0 {
				sum += mu / math.Sqrt(v)
			}
		}
		if sum > 0 {
			zico += math.Log(sum)
		}
	}
	n := 0
	for _, db := range d {
		for _, x := range db {
			fr += x * x
			n++
		}
	}
	return zico, fr / float64(n)
}

func TestScoreMatchesReference(t *testing.T) {
	s, err := sigeo.NewStats(sigeo.WithLambdas(1, 2, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sizes := []int{5, 3}
	for i, n := range sizes {
		if idx, err := s.AddModule("m"+string(rune('0'+i)), int64(n)); err != nil || idx != i {
			t.Fatal(idx, err)
		}
	}
	r := lcg(3)
	var g [][][]float32
	var d [][]float64
	loss := 0.0
	for b := 0; b < 4; b++ {
		var gb [][]float32
		for _, n := range sizes {
			v := make([]float32, n)
			for j := range v {
				v[j] = float32(r.next())
			}
			gb = append(gb, v)
		}
		db := []float64{r.next(), r.next(), r.next()}
		l := 1 + r.next()
		loss += l / 4
		if err := s.AddBatch(gb, l, 3, db); err != nil {
			t.Fatal(err)
		}
		g, d = append(g, gb), append(d, db)
	}
	res, err := s.Compute()
	if err != nil {
		t.Fatal(err)
	}
	zico, fr := reference(g, d)
	score := zico + 2*math.Log(fr) - 0.5*loss
	if math.Abs(res.Zico-zico) > 1e-6*math.Abs(zico) || math.Abs(res.FR-fr) > 1e-12*fr ||
		math.Abs(res.Score-score) > 1e-6*math.Abs(score) {
		t.Fatalf("got zico %v fr %v score %v, want %v %v %v", res.Zico, res.FR, res.Score, zico, fr, score)
	}
	if res.Batches != 4 || res.Samples != 12 || res.Modules != 2 || res.Params != 8 {
		t.Fatalf("counts %+v", res)
	}
}

func TestErrorsCarryTheMessage(t *testing.T) {
	s, err := sigeo.NewStats(sigeo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddModule("fc0", 2); err != nil {
		t.Fatal(err)
	}
	err = s.AddFlatBatch([]float32{1, 2, 3}, []int64{3}, 1, 1, nil)
	if !errors.Is(err, sigeo.ErrShape) || !strings.Contains(err.Error(), "module 'fc0' (index 0) gradient has 3 elements, registered with 2") {
		t.Fatalf("got %v", err)
	}
	err = s.AddFlatBatch([]float32{1, float32(math.NaN())}, nil, 1, 1, nil)
	var se *sigeo.Error
	if !errors.As(err, &se) || se.Status != sigeo.StatusNonFinite || !strings.Contains(se.Message, "gradient element 1 is nan") {
		t.Fatalf("got %v", err)
	}
	if err := s.AddFlatBatch([]float32{1}, nil, 1, 1, nil); err == nil || !strings.Contains(err.Error(), "do not fit in gradients_len 1") {
		t.Fatalf("got %v", err)
	}
	if _, err := s.Compute(); !errors.Is(err, sigeo.ErrInvalidArg) || !strings.Contains(err.Error(), "no batch accumulated") {
		t.Fatalf("got %v", err)
	}
	if _, err := sigeo.NewStats(sigeo.Options{ZicoVariant: 9, LambdaPreset: 1}); !errors.Is(err, sigeo.ErrInvalidArg) || !strings.Contains(err.Error(), "zico") {
		t.Fatalf("got %v", err)
	}
	// usable after the failures
	for i := 0; i < 2; i++ {
		if err := s.AddFlatBatch([]float32{1, float32(i)}, nil, 1, 1, []float64{2}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.Compute(); err != nil || r.FR != 4 {
		t.Fatal(r, err)
	}
	s.Close()
	s.Close()
	if _, err := s.Compute(); !errors.Is(err, sigeo.ErrInvalidArg) {
		t.Fatalf("closed: %v", err)
	}
}

func TestRankCorrelations(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5}
	if r, err := sigeo.Spearman(x, []float64{5, 6, 7, 8, 7.5}); err != nil || math.Abs(r-0.9) > 1e-15 {
		t.Fatal(r, err) // 1 - 6*2/(5*24)
	}
	if r, err := sigeo.KendallTau(x, []float64{2, 1, 3, 4, 5}); err != nil || math.Abs(r-0.8) > 1e-15 {
		t.Fatal(r, err) // (9 - 1) / 10
	}
	if _, err := sigeo.Spearman(x, []float64{1, 1, 1, 1, 1}); err == nil || !strings.Contains(err.Error(), "constant") {
		t.Fatal(err)
	}
}

func TestStructSize(t *testing.T) {
	if sigeo.StructSize(7) != 96 || sigeo.StructSize(0) != 0 { // sigeo_stats_flat_batch_t
		t.Fatal(sigeo.StructSize(7))
	}
}
