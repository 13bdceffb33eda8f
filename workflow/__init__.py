"""Work orders and complaint cases: the closed loop of B §6 and E Appendix A."""
