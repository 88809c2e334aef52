"""The request and its rules, errors, limits, atomic writes, units and progress: what every stage
shares. Imports nothing else of ours."""
