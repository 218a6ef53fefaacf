package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// purchase is one granted purchase.
type purchase struct {
	ReceiptID string    `json:"receipt_id"`
	ProductID string    `json:"product_id"`
	Version   int64     `json:"version"`
	GrantedAt time.Time `json:"granted_at"`
	Metadata  string    `json:"metadata"`
}

func (a *app) purchasesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "purchases",
		Short: "A profile's purchase history (through the gateway)",
	}
	var page uint32
	list := &cobra.Command{
		Use:   "list NAMESPACE/ID",
		Short: "List every purchase granted to a profile, oldest first",
		Args:  args(1),
		RunE: onProfile(func(ctx context.Context, ref *hearthv1.ProfileRef, argv []string) error {
			c := a.client()
			out := []purchase{}
			token := ""
			for {
				res, err := c.ListPurchases(ctx, &hearthv1.ListPurchasesRequest{Profile: ref, PageToken: token, Limit: page})
				if err != nil {
					return fmt.Errorf("purchases of %s: %w", refString(ref), err)
				}
				for _, p := range res.GetPurchases() {
					out = append(out, purchase{ReceiptID: p.GetReceiptId(), ProductID: p.GetProductId(), Version: p.GetVersion(),
						GrantedAt: p.GetGrantedAt().AsTime(), Metadata: p.GetMetadata()})
				}
				if token = res.GetNextPageToken(); token == "" {
					break
				}
			}
			return a.emit(out, func(w io.Writer) {
				rows := make([][]any, 0, len(out))
				for _, p := range out {
					rows = append(rows, []any{p.ReceiptID, p.ProductID, p.Version, when(p.GrantedAt), p.Metadata})
				}
				table(w, []any{"RECEIPT", "PRODUCT", "VERSION", "GRANTED AT", "METADATA"}, rows)
			})
		}),
	}
	list.Flags().Uint32Var(&page, "page-size", 0, "purchases per request (0: the node's default, 100; at most 1000)")
	cmd.AddCommand(list)
	return cmd
}
