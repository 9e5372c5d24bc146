import Mathlib
import Aesop

set_option maxHeartbeats 0

open BigOperators Real Nat Topology Rat


theorem mathd_algebra_304 : 91 ^ 2 = 8281 := by 
  norm_num