import Mathlib
import Aesop
set_option maxHeartbeats 0
set_option maxRecDepth 8192
open BigOperators Real Nat Topology Rat

theorem induction_pord1p1on2powklt5on2 (n : ℕ) (h₀ : 0 < n) :
    (∏ k in Finset.Icc 1 n, 1 + (1 : ℝ) / 2 ^ k) < 5 / 2 := by
  -- Step 1: Base case verification for n = 1
  induction' h₀ with n hn
  simp [Finset.Icc]
  induction' k with k ih
  · norm_num
  · rw [pow_succ]
    rw [mul_comm]
    norm_num
    linarith
  (simp_all)
