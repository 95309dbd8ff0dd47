"""The cost model: workload -> operators -> cost -> prediction."""
