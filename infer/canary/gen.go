//go:build ignore

// gen writes astronaut.jpg, the canary photo that infer embeds: the public
// domain (NASA) astronaut portrait, shrunk from 512x512 to 256x256 with
// area interpolation and encoded as a quality 90 JPEG.
//
// Run from the repository root:
//
//	go run ./infer/canary/gen.go ../shared/data/faces/astronaut.png infer/canary/astronaut.jpg
//
// The face boxes in infer/canary.go are measured on this output (the
// 512 px photo's boxes halved).
package main

import (
	"fmt"
	"image"
	"os"

	"gocv.io/x/gocv"
)

const side = 256

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run gen.go SRC.png OUT.jpg")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	img := gocv.IMRead(src, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		return fmt.Errorf("read %s: not an image", src)
	}
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(side, side), 0, 0, gocv.InterpolationArea)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, small, []int{gocv.IMWriteJpegQuality, 90})
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	defer buf.Close()
	return os.WriteFile(out, buf.GetBytes(), 0o644)
}
