"""Trading: orders, the paper broker, risk checks, positions, accounts and P&L."""
