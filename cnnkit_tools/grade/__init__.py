"""Grade a whole class in parallel, locally or on a Dask cluster, and lose nothing.

- job:      what a task needs, as data (course files, template gradebook, the submission)
- task:     on a worker, grade one submission with the real nbgrader in a private course
- engine:   dask.distributed: a local pool (LocalCluster) or an existing scheduler; retries
- tls:      who may connect: the pool's per-batch credentials, a cluster's certificates, no plain tcp
- clustercheck: before sending anything, the scheduler and workers have the client's kit and data
- record:   the single writer: autograded/, the real gradebook, cnnkit_outcome
- outcome:  the cnnkit_outcome table
- batch:    choose (resume), run, record; the Report
- progress: the live bar and the tables
- cli:      ./kit grade
- bench:    ./kit bench --class N
"""
