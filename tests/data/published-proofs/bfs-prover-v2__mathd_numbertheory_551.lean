import Mathlib
open BigOperators Real Nat Topology

theorem mathd_numbertheory_551 :
  1529 % 6 = 5 := by

  repeat' rfl