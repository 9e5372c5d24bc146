import Mathlib

set_option maxHeartbeats 0

open Nat

theorem numbertheory_2pownm1prime_nprime (n : ℕ) (h₀ : 0 < n) (h₁ : Nat.Prime (2 ^ n - 1)) : Nat.Prime n := by
  by_contra h
  have h4 : ¬Nat.Prime n := h
  by_cases h3 : n > 1
  · have h3 : n ≥ 2 := by linarith
    have h5 : ∃ d, d ∣ n ∧ 1 < d ∧ d < n := by
      have h6 : ¬Nat.Prime n := h4
      rw [Nat.not_prime_iff_exists_dvd_lt (by linarith)] at h6
      tauto
    rcases h5 with ⟨d, hdvd, h1lt, hklt⟩
    have h6 : d ∣ n := hdvd
    rcases h6 with ⟨k, hk⟩
    have h8 : d > 1 := by linarith
    have h9 : k > 1 := by
      by_contra h
      push_neg at h
      have hk10 : k ≤ 1 := by linarith
      have hk11 : k = 0 ∨ k = 1 := by
        omega
      rcases hk11 with (r | r)
      · 
        rw [show k = 0 by linarith] at hk
        have h16 : n = 0 := by 
          nlinarith
        omega
      · 
        rw [show k = 1 by linarith] at hk
        have h17 : n = d := by
          nlinarith
        have h18 : d < d := by 
          have h19 : d < n := by linarith
          rw [show n = d by linarith [h17]] at h19
          linarith
        linarith
    have h10 : n = d * k := by
      linarith
    have h11 : 2 ^ d - 1 ∣ 2 ^ n - 1 := by
      rw [show n = d * k by linarith [hk]]
      have h11 : (2 ^ d - 1) ∣ (2 ^ (d * k) - 1) := by
        have h11 : ∀ (k : ℕ), (2 ^ d - 1) ∣ (2 ^ (d * k) - 1) := by
          intro k
          induction k with
          | zero =>
            simp
          | succ k ih =>
            have h100 : (2 ^ d - 1) ∣ (2 ^ (d * (k + 1)) - 1) := by
              have h67 : 2 ^ (d * (k + 1)) = (2 ^ (d * k)) * (2 ^ d) := by
                ring_nf
              rw [h67]
              have h90 : (2 ^ d - 1) ∣ (2 ^ (d * k) - 1) := ih
              have h91 : (2 ^ d - 1) ∣ (2 ^ (d * k) * (2 ^ d - 1)) := by
                use (2 ^ (d * k))
                all_goals ring
              have h93 : (2 ^ (d * k) * (2 ^ d) - 1) = (2 ^ (d * k) - 1) + (2 ^ (d * k) * (2 ^ d - 1)) := by
                have h90 : 2 ^ (d * k) ≥ 1 := by
                  apply Nat.one_le_pow
                  all_goals omega
                have h91 : 2 ^ d ≥ 1 := by
                  apply Nat.one_le_pow
                  all_goals omega
                have h92 : (2 ^ (d * k) * (2 ^ d) ) ≥ 1 := by
                  nlinarith
                have h93 : (2 ^ (d * k) * (2 ^ d) - 1) = (2 ^ (d * k) - 1) + (2 ^ (d * k) * (2 ^ d - 1)) := by
                  have h94 : (2 ^ (d * k) * (2 ^ d) ) = (2 ^ (d * k) - 1) + (2 ^ (d * k) * (2 ^ d - 1)) + 1 := by
                    have h90 : 2 ^ (d * k) ≥ 1 := by
                      apply Nat.one_le_pow
                      all_goals omega
                    have h91 : 2 ^ d ≥ 1 := by
                      apply Nat.one_le_pow
                      all_goals omega
                    have h92 : (2 ^ (d * k) * (2 ^ d) ) = (2 ^ (d * k) * (1 + (2 ^ d - 1)) ) := by
                      have h93 : 1 + (2 ^ d - 1) = 2 ^ d := by
                        have h107 : 2 ^ d ≥ 1 := by
                          apply Nat.one_le_pow
                          all_goals omega
                        omega
                      rw [h93]
                    have h94 : (2 ^ (d * k) * (1 + (2 ^ d - 1)) ) = (2 ^ (d * k) ) + (2 ^ (d * k) * (2 ^ d - 1)) := by
                      ring
                    rw [h92, h94]
                    omega
                  omega
                omega
              have h94 : (2 ^ d - 1) ∣ (2 ^ (d * k) * (2 ^ d) - 1) := by
                rw [h93]
                exact Nat.dvd_add h90 h91
              exact h94
            exact h100
        specialize h11 k
        simpa using h11
      exact h11
    have h12 : 1 < 2 ^ d - 1 := by
      have h13 : d ≥ 2 := by linarith
      have h14 : 2 ^ d ≥ 4 := by
        have h15 : d ≥ 2 := by linarith
        have h16 : 2 ^ d ≥ 2 ^ (2 : ℕ) := by
          apply Nat.pow_le_pow_of_le_right
          all_goals omega
        norm_num at h16 ⊢
        all_goals linarith
      have h17 : 2 ^ d - 1 ≥ 3 := by
        omega
      omega
    have h13 : (2 ^ d - 1) < (2 ^ n - 1) := by
      have h14 : d < n := by linarith
      have h15 : 2 ^ d < 2 ^ n := by
        apply Nat.pow_lt_pow_right
        all_goals omega
      have h16 : (2 ^ d - 1) < (2 ^ n - 1) := by
        have h17 : 2 ^ d ≥ 1 := by
          apply Nat.one_le_pow
          all_goals omega
        have h18 : 2 ^ n ≥ 1 := by
          apply Nat.one_le_pow
          all_goals omega
        omega
      exact h16
    have h14 : ¬Nat.Prime (2 ^ n - 1) := by
      apply Nat.not_prime_of_dvd_of_lt h11 (by omega) (by omega)
    tauto
  · -- n ≤ 1
    have h3' : n = 1 := by
      omega
    have h4 : n = 1 := h3'
    have h5 : (2 ^ n - 1) = 1 := by
      rw [show n = 1 by linarith]
      all_goals
        norm_num
    rw [h5] at h₁
    norm_num at h₁