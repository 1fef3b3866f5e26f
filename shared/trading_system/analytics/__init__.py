"""Analytics: indicators (TA-Lib conventions), candlestick patterns, crossovers, snapshots."""
