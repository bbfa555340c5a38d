module libsigeo.example/sigeo

go 1.19
