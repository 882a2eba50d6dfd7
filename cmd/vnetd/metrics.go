package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/vnet-xdp/vnet/control"
	"github.com/vnet-xdp/vnet/overlay"
)

// commandMetrics exposes the command socket's counts by command and
// result.
type commandMetrics struct {
	srv  *control.Server
	desc *prometheus.Desc
}

func (m *commandMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

func (m *commandMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.srv.CommandCounts() {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(c.Count), c.Command, c.Result)
	}
}

// serveMetrics serves Prometheus metrics on addr at /metrics until the
// returned function is called.
func serveMetrics(addr string, eng *overlay.Engine, srv *control.Server, log *zap.Logger) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		eng.Collector(),
		&commandMetrics{srv: srv, desc: prometheus.NewDesc("vnet_commands_total",
			"Commands on the command socket, by command and result (ok or the error code).", []string{"command", "result"}, nil)},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(log)}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w (choose a free address with --metrics)", addr, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", zap.Error(err))
		}
	}()
	log.Info("serving metrics", zap.String("address", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}, nil
}
